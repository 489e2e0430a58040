import CloudcCore
import Foundation
import SSH

/// Runs a playbook on a cluster's nodes over SSH: role after role, each role on all its
/// nodes at once (bounded), reporting every node's ok / changed / failed steps.
///
/// A role with facts runs in two phases so that a file may depend on every node's facts:
/// first packages and facts on all its nodes, then files, commands, services and restarts.
/// Each phase is one script per node (`RoleScript`): one remote shell, not one per step.
/// Every step checks before it changes anything, so a second run changes nothing.
public struct Configurator: Sendable {
    public var playbook: Playbook
    public var templates: TemplateStore
    public var fanOut: Int
    public var progress: any ProgressSink

    public init(playbook: Playbook, templates: TemplateStore, fanOut: Int = 64, progress: any ProgressSink) {
        self.playbook = playbook; self.templates = templates; self.fanOut = max(1, fanOut); self.progress = progress
    }

    /// Runs every role; throws a `.remote` error naming each failed node, role and step
    /// after the failing role has finished on the other nodes.
    public func run(on target: SetupTarget, shells: [String: any RemoteShell]) async throws -> SetupReport {
        let started = Date()
        var context = SetupContext(target: target)
        var report = SetupReport()
        for role in playbook.roles {
            let roleStart = Date()
            var nodes: [SetupNode] = []
            for node in try target.nodes(for: role.hosts, role: role.name)
            where try SetupContext.holds(role.when, in: context.values(for: node), role: role.name) { nodes.append(node) }
            guard !nodes.isEmpty else {
                report.roles.append(RoleReport(role: role.name, nodes: [], seconds: 0))
                continue
            }
            progress.report("[\(role.name)] on \(nodes.count) node\(nodes.count == 1 ? "" : "s")")
            let runners = try nodes.map { node -> NodeRunner in
                guard let shell = shells[node.name] else {
                    throw CloudcError(.internalError, "no SSH session for \(node.name)")
                }
                return NodeRunner(node: node, role: role, shell: NodeShell(shell: shell, sudo: target.sudo(node)),
                                  record: target.traits.ownMachines, playbookDirectory: playbook.directory)
            }

            // Phase 1: packages and facts everywhere, so files can use every node's facts.
            let before = context
            let gathered = try await forEachBounded(runners, limit: fanOut) { runner in
                runner.hasFacts ? await runner.prepare(context: before)
                    : NodeRunner.Prepared(node: runner.node.name, facts: [:], outcome: NodeOutcome(node: runner.node.name))
            }
            for result in gathered { context.facts[result.node, default: [:]].merge(result.facts) { $1 } }
            var results = gathered.map(\.outcome)

            // Phase 2: files, commands, services, restarts, on the nodes whose phase 1 went well.
            let frozen = context
            let templates = self.templates
            let progress = self.progress
            let applied = try await forEachBounded(Array(zip(runners, results)), limit: fanOut) { pair in
                let (runner, prepared) = pair
                var outcome = prepared
                if outcome.failure == nil { outcome = await runner.apply(context: frozen, templates: templates, after: prepared) }
                progress.report("[\(role.name)] \(runner.node.name): \(outcome.summary)")
                return outcome
            }
            results = applied
            report.roles.append(RoleReport(role: role.name, nodes: results, seconds: Date().timeIntervalSince(roleStart)))
            let failures = results.compactMap(\.failure)
            if !failures.isEmpty { throw SetupFailure.error(failures, cluster: target.cluster) }
            Failpoint.kill(at: "setup.after-role.\(role.name)")
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }
}

// MARK: - Reports

/// What one role did on one node.
public struct NodeOutcome: Sendable {
    public var node: String
    public var ok = 0
    public var changed: [String] = []
    public var failure: SetupFailure?

    public var summary: String {
        if let failure { return "FAILED at \(failure.step)" }
        return changed.isEmpty ? "ok (\(ok) steps)" : "changed: \(changed.joined(separator: ", "))"
    }
}

public struct RoleReport: Sendable {
    public var role: String
    public var nodes: [NodeOutcome]
    public var seconds: Double
}

public struct SetupReport: Sendable {
    public var roles: [RoleReport] = []
    public var seconds: Double = 0
    public var changedSteps: Int { roles.reduce(0) { $0 + $1.nodes.reduce(0) { $0 + $1.changed.count } } }
    public var okSteps: Int { roles.reduce(0) { $0 + $1.nodes.reduce(0) { $0 + $1.ok } } }
}

/// A step that failed: where, how, and the end of what it printed.
public struct SetupFailure: Sendable, Equatable {
    public var node: String
    public var role: String
    public var step: String
    public var status: Int32
    public var stderrTail: [String]

    static func error(_ failures: [SetupFailure], cluster: String) -> CloudcError {
        let lines = failures.map { f -> String in
            var text = "\(f.node): role \(f.role), step '\(f.step)' exited with status \(f.status)"
            if !f.stderrTail.isEmpty { text += "\n    " + f.stderrTail.joined(separator: "\n    ") }
            return text
        }
        return CloudcError(.remote, "setup failed on \(failures.count) node\(failures.count == 1 ? "" : "s"):\n  "
                           + lines.joined(separator: "\n  "),
                           fix: "fix the cause, then run `cloudc setup \(cluster)` again: steps already done are skipped")
    }

    static func tail(_ text: String, lines: Int = 8) -> [String] {
        Array(text.split(separator: "\n", omittingEmptySubsequences: true).suffix(lines).map(String.init))
    }
}

// MARK: - Templates

/// Template files, compiled once each: a name is looked up in each folder in turn (a user's
/// playbook's own `templates/` first, then cloudc's).
public final class TemplateStore: @unchecked Sendable {
    public let directories: [String]
    private var cache: [String: Template] = [:]
    private let lock = NSLock()

    public init(directories: [String]) { self.directories = directories }
    public convenience init(directory: String) { self.init(directories: [directory]) }

    public func template(_ name: String) throws -> Template {
        lock.lock(); defer { lock.unlock() }
        if let cached = cache[name] { return cached }
        let data = name.contains("..") ? nil : directories.lazy.compactMap { FileManager.default.contents(atPath: $0 + "/" + name) }.first
        guard let data else {
            throw CloudcError(.config, "no template '\(name)' in \(directories.joined(separator: " or "))",
                              fix: "add the file, or fix the playbook's `template:` name")
        }
        let template = try Template(name: name, source: String(decoding: data, as: UTF8.self))
        cache[name] = template
        return template
    }
}

import CloudcCore
import Configurator
import Foundation
import SSH
import State

/// What `cloudc doctor` found: where the state file, the cloud and SLURM disagree.
public struct DoctorReport: Sendable, Encodable {
    public struct Finding: Sendable, Encodable, Equatable {
        /// `lost-node`, `forgotten-instance`, `earlier-start`, `missing-resource`, `forgotten-resource`,
        /// `slurm-unknown-node`, `slurm-missing-node`, `stale-host-key`, `no-state`.
        public var kind: String
        /// What it is about: a node, an instance id, a resource, a host.
        public var subject: String
        public var detail: String
        /// What `--fix` does about it; nil: nothing is safe to do automatically.
        public var fix: String?
        public var fixed = false

        public init(kind: String, subject: String, detail: String, fix: String?) {
            self.kind = kind; self.subject = subject; self.detail = detail; self.fix = fix
        }
    }

    public var cluster: String
    public var cloud: String
    /// The views compared, each with what was seen or why it could not be.
    public var views: [String: String] = [:]
    public var findings: [Finding] = []
    public var healthy: Bool { findings.allSatisfy(\.fixed) }

    public init(cluster: String, cloud: String) { self.cluster = cluster; self.cloud = cloud }
}

extension Operations {
    /// `cloudc doctor NAME [--fix]`: compares the state file, what the cloud reports by the
    /// cluster's tags and names, and what SLURM knows; with `fix`, repairs what is safe: forgets
    /// nodes and resources the cloud no longer has (then sets SLURM up anew for the nodes left),
    /// terminates instances of this start the state forgot, records resources of this start
    /// the state forgot (so `stop` deletes them), and unpins host keys of nodes that are gone.
    /// Holds the cluster's lock.
    public func doctor(name: String, fix: Bool) async throws -> DoctorReport {
        try await store.withLock(name, command: "cloudc doctor \(name)") {
            var state = try loadState(name)
            let provider = try clouds.provider(clouds.cloudOf(state))
            var report = DoctorReport(cluster: name, cloud: state.spec.cloud.name)

            // The cloud's view.
            let observed = try await provider.instances(cluster: name, incarnation: nil)
            let ours = observed.filter { $0.incarnation == nil || $0.incarnation == state.incarnation }
            let liveOurs = ours.filter { $0.state.isLive }
            report.views["cloud"] = "\(liveOurs.count) instance(s) of this start"
            var lost: [String] = []
            for node in state.nodes {
                guard let id = node.instanceID else { continue }
                if let instance = ours.first(where: { $0.id == id }), instance.state.isLive { continue }
                lost.append(node.name)
                report.findings.append(.init(kind: "lost-node", subject: node.name,
                                             detail: "the state has \(node.name) (\(id)), which the cloud no longer has",
                                             fix: "forget it, and set SLURM up again without it"))
            }
            let known = Set(state.nodes.compactMap(\.instanceID))
            let forgotten = liveOurs.filter { !known.contains($0.id) }
            for instance in forgotten {
                report.findings.append(.init(kind: "forgotten-instance", subject: instance.id,
                                             detail: "the cloud has \(instance.id)\(instance.node.map { " (\($0))" } ?? "") of this start, \(instance.state.rawValue), which the state forgot",
                                             fix: "terminate it"))
            }
            for instance in observed where instance.incarnation != nil && instance.incarnation != state.incarnation && instance.state.isLive {
                report.findings.append(.init(kind: "earlier-start", subject: instance.id,
                                             detail: "the cloud has \(instance.id), tagged for \(name) but from another start (\(instance.incarnation!)); another cloudc may own it",
                                             fix: nil))
            }
            let probe = AccessRequest(cluster: name, incarnation: state.incarnation, sshFrom: "", publicKey: "", loginUser: "")
            var missing: [ResourceRecord] = [], unrecorded: [ResourceRecord] = []
            for resource in state.resources where !(try await provider.exists(resource)) {
                missing.append(resource)
                report.findings.append(.init(kind: "missing-resource", subject: "\(resource.kind.rawValue) \(resource.name)",
                                             detail: "the state has \(resource.kind.rawValue) \(resource.name), which the cloud no longer has",
                                             fix: "forget it"))
            }
            for var resource in provider.plannedResources(for: probe)
                where !state.resources.contains(where: { $0.kind == resource.kind && $0.name == resource.name }) {
                guard try await provider.exists(resource) else { continue }
                resource.status = .created
                unrecorded.append(resource)
                report.findings.append(.init(kind: "forgotten-resource", subject: "\(resource.kind.rawValue) \(resource.name)",
                                             detail: "the cloud has \(resource.kind.rawValue) \(resource.name) of this start, which the state forgot",
                                             fix: "record it, so that cloudc stop deletes it"))
            }

            // SLURM's view, from the frontend (when the cluster has a setup and answers).
            var slurmMissing: [String] = []
            let frontendRuns = state.frontend.flatMap { node in ours.first { $0.id == node.instanceID } }?.state == .running
            if state.spec.setup != nil, state.setupCompletedAt != nil, let frontend = state.frontend, frontendRuns {
                do {
                    let listed = try await withSession(to: frontend, of: state) { session in
                        try await SlurmControl(frontend: session, sudo: (frontend.login?.user ?? state.spec.login.user) != "root").knownNodes()
                    }
                    report.views["slurm"] = "\(listed.count) node(s)"
                    let workers = Set(state.nodes.filter { $0.group != state.frontendGroup && !lost.contains($0.name) }.map(\.name))
                    for node in listed.subtracting(workers).sorted() {
                        report.findings.append(.init(kind: "slurm-unknown-node", subject: node,
                                                     detail: "SLURM lists \(node), which the cluster no longer has", fix: "set SLURM up again"))
                    }
                    slurmMissing = workers.subtracting(listed).sorted()
                    for node in slurmMissing {
                        report.findings.append(.init(kind: "slurm-missing-node", subject: node,
                                                     detail: "SLURM does not list \(node)", fix: "set SLURM up again"))
                    }
                } catch {
                    report.views["slurm"] = "not reached: \(error)"
                }
            } else {
                report.views["slurm"] = state.spec.setup == nil ? "no setup" : state.setupCompletedAt == nil ? "not set up"
                    : "not asked: the frontend is not running" + (state.spec.autostop != nil ? " (autostop?)" : "")
            }

            // Host keys pinned for addresses no node has any more.
            let knownHosts = KnownHosts(path: store.knownHostsPath(of: name))
            let addresses = Set(state.nodes.filter { !lost.contains($0.name) }.flatMap { [$0.privateIP, $0.publicIP].compactMap { $0 } })
            let stale = ((try? knownHosts.patterns()) ?? []).filter { pattern in
                let host = pattern.hasPrefix("[") ? String(pattern.dropFirst().prefix { $0 != "]" }) : pattern
                return !addresses.contains(host)
            }
            for pattern in stale {
                report.findings.append(.init(kind: "stale-host-key", subject: pattern,
                                             detail: "a host key is pinned for \(pattern), which no node of the cluster has", fix: "unpin it"))
            }
            report.views["state"] = "\(state.nodes.count) node(s), \(state.resources.count) resource(s)"
            guard fix, !report.findings.isEmpty else { return report }

            // The repairs, each safe to repeat.
            if !forgotten.isEmpty {
                try await provider.terminate(forgotten.map(\.id))
                mark(&report, "forgotten-instance")
            }
            if !lost.isEmpty || !missing.isEmpty || !unrecorded.isEmpty {
                state.nodes.removeAll { lost.contains($0.name) }
                state.resources.removeAll { resource in missing.contains { $0.kind == resource.kind && $0.name == resource.name } }
                state.resources += unrecorded
                try store.save(state)
                for kind in ["lost-node", "missing-resource", "forgotten-resource"] { mark(&report, kind) }
            }
            for pattern in stale {
                let host = pattern.hasPrefix("[") ? String(pattern.dropFirst().prefix { $0 != "]" }) : pattern
                let port = pattern.hasPrefix("[") ? Int(pattern.split(separator: ":").last ?? "") ?? 22 : 22
                try knownHosts.forget(host: host, port: port)
            }
            mark(&report, "stale-host-key")
            let slurmDrift = report.findings.contains { $0.kind.hasPrefix("slurm-") }
            // SLURM is set up anew only on a cluster that was set up (a `--no-setup` one has none).
            if state.spec.setup != nil, state.setupCompletedAt != nil, slurmDrift || !lost.isEmpty, state.frontend != nil {
                try await runSetup(&state, traits: provider.traits)
                for kind in ["slurm-unknown-node", "slurm-missing-node"] { mark(&report, kind) }
            }
            return report
        }
    }

    private func mark(_ report: inout DoctorReport, _ kind: String) {
        for index in report.findings.indices where report.findings[index].kind == kind { report.findings[index].fixed = true }
    }
}

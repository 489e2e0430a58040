import CloudcCore
@testable import Configurator
import Foundation
import SSH
import Testing
import TestSupport

/// A shell on this machine: commands run with /bin/sh, uploads are plain file writes.
/// It lets the runner's logic (checks, changes, restarts, failures) run against a real
/// shell and file system without a network.
struct ThisMachineShell: RemoteShell {
    let endpoint: SSHEndpoint
    let log: CommandLog

    func exec(_ command: String, stdin: [UInt8]?, onOutput: (@Sendable (OutputChunk) -> Void)?) async throws -> ExecResult {
        await log.append(command)
        guard let stdin else {
            let run = try await Run.programOffPool("/bin/sh", ["-c", command])
            return ExecResult(status: run.status, stdout: run.stdout, stderr: run.stderr)
        }
        // What the command reads comes from a private file, as an SSH channel's stdin would.
        let input = NSTemporaryDirectory() + "/cloudc-stdin-\(UUID().uuidString)"
        guard FileManager.default.createFile(atPath: input, contents: Data(stdin), attributes: [.posixPermissions: 0o600]) else {
            throw CloudcError(.io, "cannot write \(input)")
        }
        defer { try? FileManager.default.removeItem(atPath: input) }
        let run = try await Run.programOffPool("/bin/sh", ["-c", "(\(command)) < \(input)"])
        return ExecResult(status: run.status, stdout: run.stdout, stderr: run.stderr)
    }

    func upload(_ data: [UInt8], to path: String, mode: Int32, owner: String?) async throws {
        await log.append("upload \(path)")
        guard FileManager.default.createFile(atPath: path, contents: Data(data), attributes: [.posixPermissions: Int(mode)]) else {
            throw CloudcError(.io, "cannot write \(path)")
        }
        if let owner { _ = try await Run.programOffPool("/bin/chown", [owner, path]) }
    }

    func download(_ path: String) async throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw CloudcError(.notFound, "no file \(path)") }
        return [UInt8](data)
    }

    func close() async {}
}

actor CommandLog {
    var commands: [String] = []
    func append(_ c: String) { commands.append(c) }
    func clear() { commands = [] }
}

final class Lines: ProgressSink, @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func report(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}

@Suite struct RunnerTests {
    let dir: TemporaryDirectory
    let log = CommandLog()

    init() throws { dir = try TemporaryDirectory("runner") }

    func target() -> SetupTarget {
        SetupTarget(cluster: "demo", groups: ["frontend", "compute"], frontendGroup: "frontend", nodes: [
            SetupNode(name: "frontend001", group: "frontend", sshAddress: "127.0.0.1", privateAddress: "10.0.0.1"),
            SetupNode(name: "compute001", group: "compute", sshAddress: "127.0.0.1", privateAddress: "10.0.0.2"),
        ], vars: ["greeting": "hello"], traits: ProviderTraits(sharedHome: true),
        secrets: ["key": SecretFile(bytes: Array("s3cret-bytes".utf8))], sudo: false)
    }

    func playbook(_ extra: String = "") throws -> Playbook {
        let d = dir.path
        return try Playbook.parse("""
            roles:
              - name: base
                hosts: [all]
                packages: [bash]
                facts:
                  word: echo {{vars.greeting}}-{{node.name}}
                files:
                  - {template: hosts, dest: "\(d)/{{node.name}}/hosts", mode: "0640"}
                  - {secret: key, dest: "\(d)/{{node.name}}/key", mode: "0400"}
                commands:
                  - name: mark
                    run: echo {{node.facts.word}} > \(d)/{{node.name}}/mark
                    unless: test -f \(d)/{{node.name}}/mark
              - name: only-frontend
                hosts: [frontend]
                when: "!shared_home"
                commands:
                  - {name: never, run: "exit 7"}
            \(extra)
            """, name: "t", file: "t.yaml")
    }

    func configurator(_ playbook: Playbook, progress: any ProgressSink = SilentProgress()) throws -> Configurator {
        _ = try dir.write("templates/hosts", "{{#nodes}}\n{{address}} {{name}}\n{{/nodes}}\n")
        return Configurator(playbook: playbook, templates: TemplateStore(directory: dir.path + "/templates"),
                            fanOut: 2, progress: progress)
    }

    func shells() -> [String: any RemoteShell] {
        Dictionary(uniqueKeysWithValues: target().nodes.map {
            ($0.name, ThisMachineShell(endpoint: SSHEndpoint(host: "127.0.0.1", user: "root"), log: log) as any RemoteShell)
        })
    }

    @Test(.needsRoot) func firstRunChangesThenASecondRunChangesNothing() async throws {
        // File destinations are templated per node, so they need their folders first.
        let lines = Lines()
        let c = try configurator(try playbook(), progress: lines)
        let first = try await c.run(on: target(), shells: shells())
        #expect(first.changedSteps == 6)   // per node: 2 files + 1 command
        let hosts = try String(contentsOfFile: dir.path + "/compute001/hosts", encoding: .utf8)
        #expect(hosts == "10.0.0.1 frontend001\n10.0.0.2 compute001\n")
        #expect(try String(contentsOfFile: dir.path + "/compute001/mark", encoding: .utf8) == "hello-compute001\n")
        let attributes = try FileManager.default.attributesOfItem(atPath: dir.path + "/frontend001/key")
        #expect((attributes[.posixPermissions] as? Int) == 0o400)
        #expect(lines.all.contains { $0.hasPrefix("[base] compute001: changed:") })

        await log.clear()
        let second = try await c.run(on: target(), shells: shells())
        #expect(second.changedSteps == 0)
        #expect(second.okSteps == first.okSteps + 6)
        #expect(await log.commands.allSatisfy { !$0.hasPrefix("upload") })
        // The role whose `when` does not hold ran nowhere.
        #expect(second.roles.first { $0.role == "only-frontend" }?.nodes.isEmpty == true)
    }

    @Test(.needsRoot) func aChangedFileIsUploadedAgainAndOnlyThere() async throws {
        let c = try configurator(try playbook())
        _ = try await c.run(on: target(), shells: shells())
        try "tampered".write(toFile: dir.path + "/compute001/hosts", atomically: true, encoding: .utf8)
        let again = try await c.run(on: target(), shells: shells())
        #expect(again.changedSteps == 1)
        let base = try #require(again.roles.first)
        #expect(base.nodes.first { $0.node == "compute001" }?.changed == [dir.path + "/compute001/hosts"])
    }

    @Test func aFailureNamesNodeRoleStepStatusAndStderrAndLaterRolesDoNotRun() async throws {
        let failing = try playbook("""
              - name: breaks
                hosts: [compute]
                commands:
                  - {name: explode, run: "echo first >&2; echo boom on {{node.name}} >&2; exit 3"}
              - name: after
                hosts: [all]
                commands:
                  - {name: touch, run: "touch \(dir.path)/after"}
            """)
        let c = try configurator(failing)
        await #expect {
            _ = try await c.run(on: target(), shells: shells())
        } throws: { error in
            let e = error as? CloudcError
            return e?.code == .remote
                && e?.message.contains("compute001: role breaks, step 'explode' exited with status 3") == true
                && e?.message.contains("boom on compute001") == true
                && e?.fix?.contains("cloudc setup demo") == true
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/after"))
    }

    @Test func secretsNeverAppearInProgressOrCommands() async throws {
        let lines = Lines()
        let c = try configurator(try playbook(), progress: lines)
        _ = try await c.run(on: target(), shells: shells())
        #expect(!lines.all.joined().contains("s3cret"))
        #expect(await !log.commands.joined().contains("s3cret"))
        #expect(!"\(SecretFile(bytes: Array("s3cret".utf8)))".contains("s3cret"))
    }
}

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

    /// A check runs every time and changes nothing; a handler runs only when a file of its role
    /// changed on that node; `src:` copies a file of this machine byte for byte.
    @Test func checksHandlersAndCopiedFiles() async throws {
        let d = dir.path
        let key = try dir.write("files/key.bin", String(decoding: [0, 1, 2, 255, 10] as [UInt8], as: UTF8.self))
        var playbook = try Playbook.parse("""
            roles:
              - name: conf
                hosts: [all]
                files:
                  - {template: hosts, dest: "\(d)/{{node.name}}/conf"}
                  - {src: files/key.bin, dest: "\(d)/{{node.name}}/key", mode: "0400"}
                commands:
                  - {name: the node is itself, check: "test {{node.host}} = {{node.name}}"}
                  - {name: reload, run: "echo reload >> \(d)/{{node.name}}/reloads", on_change: true}
            """, name: "t", file: "t.yaml")
        playbook.directory = d
        let c = try configurator(playbook)
        let first = try await c.run(on: target(), shells: shells())
        #expect(first.changedSteps == 6)   // per node: 2 files + the handler
        #expect(first.okSteps == 2)        // the checks
        #expect(FileManager.default.contents(atPath: d + "/compute001/key") == FileManager.default.contents(atPath: key))
        let second = try await c.run(on: target(), shells: shells())
        #expect(second.changedSteps == 0 && second.okSteps == 6)   // 2 files and the check per node
        #expect(try String(contentsOfFile: d + "/frontend001/reloads", encoding: .utf8) == "reload\n", "the handler ran once")

        try "edited".write(toFile: d + "/compute001/conf", atomically: true, encoding: .utf8)
        let third = try await c.run(on: target(), shells: shells())
        #expect(third.roles.first?.nodes.first { $0.node == "compute001" }?.changed == [d + "/compute001/conf", "reload"])
        #expect(try String(contentsOfFile: d + "/compute001/reloads", encoding: .utf8) == "reload\nreload\n")
        #expect(try String(contentsOfFile: d + "/frontend001/reloads", encoding: .utf8) == "reload\n")
    }

    @Test func aFailedCheckNamesItsStepAndWhatItPrinted() async throws {
        let playbook = try Playbook.parse("""
            roles:
              - name: sane
                hosts: [compute]
                commands:
                  - {name: enough memory, check: "echo only 1 GiB on {{node.name}} >&2; exit 4"}
                  - {name: never, run: "touch \(dir.path)/never"}
            """, name: "t", file: "t.yaml")
        await #expect {
            _ = try await try configurator(playbook).run(on: target(), shells: shells())
        } throws: { error in
            let message = (error as? CloudcError)?.message ?? ""
            return message.contains("compute001: role sane, step 'enough memory' exited with status 4")
                && message.contains("only 1 GiB on compute001")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/never"))
    }

    @Test func playbookKeysAreCheckedWhereTheyAre() throws {
        let both = #expect(throws: CloudcError.self) {
            try Playbook.parse("roles:\n  - {name: a, hosts: [all], commands: [{name: x, run: y, check: z}]}\n", name: "t", file: "p.yaml")
        }
        #expect(both?.message.contains("needs exactly one of 'run' and 'check'") == true, "\(both?.message ?? "")")
        let handlerCheck = #expect(throws: CloudcError.self) {
            try Playbook.parse("roles:\n  - {name: a, hosts: [all], commands: [{name: x, check: z, on_change: true}]}\n", name: "t", file: "p.yaml")
        }
        #expect(handlerCheck?.message.contains("p.yaml:2:") == true, "\(handlerCheck?.message ?? "")")
        let twoSources = #expect(throws: CloudcError.self) {
            try Playbook.parse("roles:\n  - {name: a, hosts: [all], files: [{src: a, template: b, dest: /x}]}\n", name: "t", file: "p.yaml")
        }
        #expect(twoSources?.message.contains("exactly one of 'template', 'secret' and 'src'") == true)
    }
}

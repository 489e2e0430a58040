import CloudcCore
import Foundation
@testable import SSH
import Testing
import TestSupport

/// Against a real sshd (OpenSSH from openssh-server) started by each test.
@Suite(.timeLimit(.minutes(2)), .needsPeer)
struct SSHSessionTests {
    @Test func execSeparatesStdoutStderrAndStatus() async throws {
        let fixture = try await SSHFixture()
        let session = try await fixture.connect()
        let log = ChunkLog()
        let result = try await session.exec("echo out; echo err >&2; exit 3", stdin: nil, onOutput: { log.append($0) })
        #expect(result == ExecResult(status: 3, stdout: "out\n", stderr: "err\n"))
        #expect(log.stdout == "out\n")
        #expect(log.stderr == "err\n")

        let killed = try await session.exec("kill -KILL $$")
        #expect(killed.status == 128 + 9, "a command killed by a signal reads as 128 + its number")
        #expect(try await session.exec("printf 'caf\\303\\251'").stdout == "café")
        await session.close()
    }

    @Test(arguments: ["stderr first", "stdout first", "interleaved"])
    func megabytesOnBothStreamsDoNotDeadlock(order: String) async throws {
        let fixture = try await SSHFixture()
        let session = try await fixture.connect()
        let out = "head -c 1048576 /dev/zero | tr '\\0' o"
        let err = "head -c 1048576 /dev/zero | tr '\\0' e >&2"
        let command = switch order {
        case "stderr first": "\(err); \(out)"
        case "stdout first": "\(out); \(err)"
        default: "for i in $(seq 64); do head -c 16384 /dev/zero | tr '\\0' o; head -c 16384 /dev/zero | tr '\\0' e >&2; done"
        }
        let log = ChunkLog()
        let result = try await session.exec(command, stdin: nil, onOutput: { log.append($0) })
        #expect(result.status == 0)
        #expect(result.stdout.utf8.count == 1_048_576)
        #expect(result.stderr.utf8.count == 1_048_576)
        #expect(result.stdout.allSatisfy { $0 == "o" })
        #expect(result.stderr.allSatisfy { $0 == "e" })
        #expect(log.stdout == result.stdout, "every byte is passed to onOutput, in order")
        #expect(log.stderr == result.stderr)
        #expect(log.all.count > 2, "output arrives in pieces as it comes")
        await session.close()
    }

    @Test func stdinIsPassedThroughAndClosed() async throws {
        let fixture = try await SSHFixture()
        let session = try await fixture.connect()
        // Larger than the channel window (2 MiB): input and output must move together.
        let input = (0..<3_000_000).map { UInt8(ascii: "a") + UInt8($0 % 26) }
        let echoed = try await session.exec("cat", stdin: input, onOutput: nil)
        #expect(echoed.status == 0)
        #expect(Array(echoed.stdout.utf8) == input)

        let empty = try await session.exec("cat; echo done", stdin: nil, onOutput: nil)
        #expect(empty.stdout == "done\n", "without stdin the command sees an empty one, not a hang")

        let ignored = try await session.exec("exit 0", stdin: input, onOutput: nil)
        #expect(ignored.status == 0, "input the command never reads is dropped")
        await session.close()
    }

    @Test func keyNotAuthorisedIsARefusedLoginNamingUserAndKey() async throws {
        let fixture = try await SSHFixture()
        let stranger = try makeSSHKey(in: fixture.directory.path, name: "stranger")
        let error = try await #require(throws: CloudcError.self) {
            try await fixture.connect(SSHIdentity(privateKeyPath: stranger))
        }
        #expect(error.code == .loginRefused)
        #expect(error.message.contains("\(SSHServer.user)@127.0.0.1:\(fixture.server.port)"))
        #expect(error.message.contains(stranger) && error.message.contains("for user \(SSHServer.user)"))
        #expect(error.fix?.contains("authorized_keys") == true)

        let missing = try await #require(throws: CloudcError.self) {
            try await fixture.connect(SSHIdentity(privateKeyPath: fixture.directory.path + "/no-such-key"))
        }
        #expect(missing.code == .credentials)
        #expect(missing.message.contains("no-such-key"))
    }

    @Test func firstContactPinsHostKeyForSystemSSH() async throws {
        let fixture = try await SSHFixture()
        let session = try await fixture.connect()
        #expect(try await session.exec("echo hi").stdout == "hi\n")
        await session.close()

        let path = fixture.knownHosts.path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let hostKey = try String(contentsOfFile: fixture.server.hostKeyPath + ".pub", encoding: .utf8).split(separator: " ")
        #expect(text == "[127.0.0.1]:\(fixture.server.port) ssh-ed25519 \(hostKey[1])\n")
        #expect(try fileMode(path) == 0o600)

        let again = try await fixture.connect()
        await again.close()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == text, "a known host is not recorded twice")

        let ssh = try Run.program("/usr/bin/ssh", [
            "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "UserKnownHostsFile=\(path)", "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
            "-i", fixture.key, "-p", String(fixture.server.port), "\(SSHServer.user)@127.0.0.1", "true",
        ])
        #expect(ssh.status == 0, "system ssh accepts the file: \(ssh.stderr)")
    }

    @Test func changedHostKeyIsRefusedNamingTheFileAndLine() async throws {
        let directory = try TemporaryDirectory("cloudc-ssh")
        let key = try makeSSHKey(in: directory.path)
        let first = try await SSHServer(directory: directory.path, authorizedKeys: [key + ".pub"])
        let fixture = SSHFixture(directory: directory, key: key, server: first)
        try "# cluster nodes\n".write(toFile: fixture.knownHosts.path, atomically: true, encoding: .utf8)
        try await fixture.connect().close()
        let pinned = try String(contentsOfFile: fixture.knownHosts.path, encoding: .utf8)
        first.stop()

        let second = try await SSHServer(directory: directory.path, authorizedKeys: [key + ".pub"], port: first.port,
                                         hostKeyName: "other_host_ed25519_key")
        defer { second.stop() }
        let error = try await #require(throws: CloudcError.self) { try await fixture.connect() }
        #expect(error.code == .hostKey)
        #expect(error.message.contains("[127.0.0.1]:\(first.port)"))
        #expect(error.message.contains("\(fixture.knownHosts.path) line 2"))
        #expect(error.fix?.contains("delete line 2 of \(fixture.knownHosts.path)") == true)
        #expect(try String(contentsOfFile: fixture.knownHosts.path, encoding: .utf8) == pinned, "a refused key is not recorded")

        #expect(try fixture.knownHosts.forget(host: "127.0.0.1", port: first.port) == 1)
        try await fixture.connect().close()
        #expect(try String(contentsOfFile: fixture.knownHosts.path, encoding: .utf8).hasPrefix("# cluster nodes\n"))
    }

    @Test func uploadReplacesContentModeAndOwnerAtomically() async throws {
        let fixture = try await SSHFixture()
        let session = try await fixture.connect()
        let directory = fixture.directory.path + "/etc"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let target = try fixture.directory.write("etc/slurm.conf", "old content\n")
        let inodeBefore = try FileManager.default.attributesOfItem(atPath: target)[.systemFileNumber] as? UInt64

        try await session.upload(Array("new content\n".utf8), to: target, mode: 0o640, owner: "nobody")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "new content\n")
        let attributes = try FileManager.default.attributesOfItem(atPath: target)
        #expect(attributes[.posixPermissions] as? Int == 0o640)
        #expect(attributes[.ownerAccountName] as? String == "nobody")
        #expect(attributes[.systemFileNumber] as? UInt64 != inodeBefore, "replaced by rename, not rewritten in place")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["slurm.conf"], "no temporary file is left")

        let fresh = directory + "/munge.key"
        try await session.upload([0, 1, 2, 255], to: fresh, mode: 0o400, owner: nil)
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: fresh))) == [0, 1, 2, 255])
        #expect(try fileMode(fresh) == 0o400)

        let error = try await #require(throws: CloudcError.self) {
            try await session.upload([1], to: fixture.directory.path + "/missing/file", mode: 0o644, owner: nil)
        }
        #expect(error.code == .remote)
        #expect(error.message.contains("/missing/"))
        #expect(error.fix?.contains("create") == true)

        let badOwner = try await #require(throws: CloudcError.self) {
            try await session.upload([1], to: target, mode: 0o644, owner: "no-such-user-xyz")
        }
        #expect(badOwner.code == .remote)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "new content\n", "a failed upload leaves the target alone")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["munge.key", "slurm.conf"])
        await session.close()
    }

    @Test func downloadReadsWholeFilesAndNamesAMissingOne() async throws {
        let fixture = try await SSHFixture()
        let session = try await fixture.connect()
        var big = [UInt8](repeating: 0, count: 1_300_000)
        for index in big.indices { big[index] = UInt8(truncatingIfNeeded: index &* 31 &+ index >> 9) }
        let path = fixture.directory.path + "/big.bin"
        try Data(big).write(to: URL(fileURLWithPath: path))
        #expect(try await session.download(path) == big, "more than one SFTP read, byte for byte")
        _ = try fixture.directory.write("empty", "")
        #expect(try await session.download(fixture.directory.path + "/empty") == [])
        let missing = try await #require(throws: CloudcError.self) { try await session.download(fixture.directory.path + "/nope") }
        #expect(missing.code == .notFound && missing.message.contains("/nope"))
        #expect(try await session.exec("echo still usable").stdout == "still usable\n")
        await session.close()
    }

    @Test func passphraseProtectedKey() async throws {
        let directory = try TemporaryDirectory("cloudc-ssh")
        let key = try makeEncryptedKey(in: directory.path, name: "id_locked", passphrase: "correct horse battery")
        let server = try await SSHServer(directory: directory.path, authorizedKeys: [key + ".pub"])
        let fixture = SSHFixture(directory: directory, key: key, server: server)

        let session = try await fixture.connect(SSHIdentity(privateKeyPath: key, passphrase: Secret("correct horse battery")))
        #expect(try await session.exec("echo in").stdout == "in\n")
        await session.close()

        let withPublicKey = SSHIdentity(privateKeyPath: key, publicKeyPath: key + ".pub", passphrase: Secret("correct horse battery"))
        try await fixture.connect(withPublicKey).close()

        let error = try await #require(throws: CloudcError.self) {
            try await fixture.connect(SSHIdentity(privateKeyPath: key, publicKeyPath: key + ".pub", passphrase: Secret("wrong staple")))
        }
        #expect(error.code == .credentials)
        #expect(error.message.contains("passphrase"))
        #expect(error.message.contains(key))
        #expect(!error.description.contains("wrong staple"), "the passphrase never appears in a message")
    }

    @Test func encryptedKeyWithoutPassphraseTriesTheAgentThenAsks() async throws {
        let directory = try TemporaryDirectory("cloudc-ssh")
        let key = try makeEncryptedKey(in: directory.path, name: "id_locked", passphrase: "pw one")
        let server = try await SSHServer(directory: directory.path, authorizedKeys: [key + ".pub"])
        let fixture = SSHFixture(directory: directory, key: key, server: server)

        var alone = SSHIdentity(privateKeyPath: key)
        alone.agentSocket = nil
        alone.askPassphrase = { _ in nil }
        let error = try await #require(throws: CloudcError.self) { try await fixture.connect(alone) }
        #expect(error.code == .credentials)
        #expect(error.message.contains("passphrase"))
        #expect(error.fix?.contains("ssh-add \(key)") == true)

        // At the prompt, a wrong answer is asked again; the right one is remembered by the identity.
        let answers = Answers(["wrong", "pw one"])
        var asking = SSHIdentity(privateKeyPath: key)
        asking.agentSocket = nil
        asking.askPassphrase = { answers.next($0) }
        try await fixture.connect(asking).close()
        try await fixture.connect(asking).close()
        #expect(answers.prompts == ["Enter passphrase for \(key): ", "Enter passphrase for \(key): "])

        // ssh-agent holding the (decrypted) key: no question.
        let socket = directory.path + "/agent.sock"
        let agent = try Daemon("/usr/bin/ssh-agent", ["-D", "-a", socket], environment: [:], logPath: directory.path + "/agent.log")
        defer { agent.stop() }
        try await waitUntil("ssh-agent's socket", seconds: 10) { FileManager.default.fileExists(atPath: socket) }
        let plain = directory.path + "/id_plain"
        try FileManager.default.copyItem(atPath: key, toPath: plain)
        #expect(try Run.program("/usr/bin/ssh-keygen", ["-q", "-p", "-P", "pw one", "-N", "", "-f", plain]).status == 0)
        let added = try Run.program("/usr/bin/ssh-add", [plain], environment: ["SSH_AUTH_SOCK": socket])
        try #require(added.status == 0, "ssh-add: \(added.stderr) \(agent.log)")
        var viaAgent = SSHIdentity(privateKeyPath: key)
        viaAgent.agentSocket = socket
        viaAgent.askPassphrase = { _ in
            Issue.record("asked for a passphrase although the agent has the key")
            return nil
        }
        let session = try await fixture.connect(viaAgent)
        #expect(try await session.exec("echo agent").stdout == "agent\n")
        await session.close()
    }

    @Test func cancellingACommandClosesTheSession() async throws {
        let fixture = try await SSHFixture()
        let session = try await fixture.connect()
        let started = ContinuousClock.now
        let task = Task { try await session.exec("sleep 60") }
        try await Task.sleep(for: .milliseconds(500))
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        // Well short of the command's 60 s, with room for a busy machine.
        #expect(ContinuousClock.now - started < .seconds(40))
        let error = try await #require(throws: CloudcError.self) { try await session.exec("true") }
        #expect(error.message.contains("closed"))
    }
}

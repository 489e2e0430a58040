import CloudcCore
import Foundation
@testable import SSH
import TestSupport

/// A real sshd on 127.0.0.1 with one authorised ed25519 key, and a fresh known_hosts file.
final class SSHFixture: Sendable {
    let directory: TemporaryDirectory
    let key: String
    let server: SSHServer
    let knownHosts: KnownHosts

    init(extraAuthorizedKeys: [String] = [], port: Int? = nil) async throws {
        let directory = try TemporaryDirectory("cloudc-ssh")
        let key = try makeSSHKey(in: directory.path)
        self.server = try await SSHServer(directory: directory.path, authorizedKeys: [key + ".pub"] + extraAuthorizedKeys, port: port)
        self.directory = directory
        self.key = key
        self.knownHosts = KnownHosts(path: directory.path + "/known_hosts")
    }

    /// For tests that need keys (authorised or not) before sshd starts.
    init(directory: TemporaryDirectory, key: String, server: SSHServer) {
        self.directory = directory
        self.key = key
        self.server = server
        self.knownHosts = KnownHosts(path: directory.path + "/known_hosts")
    }

    var endpoint: SSHEndpoint { SSHEndpoint(host: "127.0.0.1", port: server.port, user: SSHServer.user) }
    var identity: SSHIdentity { SSHIdentity(privateKeyPath: key) }

    func connect(_ identity: SSHIdentity? = nil) async throws -> SSHSession {
        try await SSHSession.connect(to: endpoint, identity: identity ?? self.identity, knownHosts: knownHosts, timeout: 10)
    }

    deinit { server.stop() }
}

/// An OpenSSH ed25519 key protected by `passphrase`.
func makeEncryptedKey(in directory: String, name: String, passphrase: String) throws -> String {
    let path = directory + "/" + name
    let run = try Run.program("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", passphrase, "-C", "cloudc-test", "-f", path])
    guard run.status == 0 else { throw PeerError("ssh-keygen failed: \(run.stderr)") }
    return path
}

/// Collects pieces of output from the session's thread.
final class ChunkLog: @unchecked Sendable {
    private let lock = NSLock()
    private var chunks: [OutputChunk] = []

    func append(_ chunk: OutputChunk) {
        lock.lock(); chunks.append(chunk); lock.unlock()
    }

    var all: [OutputChunk] {
        lock.lock(); defer { lock.unlock() }
        return chunks
    }

    var stdout: String { all.compactMap { if case .stdout(let text) = $0 { text } else { nil } }.joined() }
    var stderr: String { all.compactMap { if case .stderr(let text) = $0 { text } else { nil } }.joined() }
}

func fileMode(_ path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
}

/// Answers to passphrase prompts, in order; remembers the prompts.
final class Answers: @unchecked Sendable {
    private let lock = NSLock()
    private var left: [String]
    private var asked: [String] = []

    init(_ answers: [String]) { left = answers }

    func next(_ prompt: String) -> Secret? {
        lock.lock(); defer { lock.unlock() }
        asked.append(prompt)
        return left.isEmpty ? nil : Secret(left.removeFirst())
    }

    var prompts: [String] {
        lock.lock(); defer { lock.unlock() }
        return asked
    }
}

import CloudcCore
import Foundation
@testable import SSH
import Testing
import TestSupport

/// Sessions through a jump host (a real sshd whose direct-tcpip channel reaches the target sshd),
/// as cloudc reaches the nodes of a cluster that have no public address.
@Suite(.timeLimit(.minutes(2)), .needsPeer)
struct JumpTests {
    /// The target sshd, and a jump sshd that may open connections to the target's port only
    /// (`PermitOpen`): what the jump refuses, a direct connection would not.
    struct Pair {
        let target: SSHFixture
        let jump: SSHServer

        init() async throws {
            target = try await SSHFixture()
            jump = try await SSHServer(directory: target.directory.path, authorizedKeys: [target.key + ".pub"],
                                       hostKeyName: "jump_host_ed25519_key",
                                       extraConfig: ["PermitOpen 127.0.0.1:\(target.server.port)"])
        }

        func endpoint(port: Int? = nil) -> SSHEndpoint {
            SSHEndpoint(host: "127.0.0.1", port: port ?? target.server.port, user: SSHServer.user,
                        jump: SSHJump(host: "127.0.0.1", port: jump.port, user: SSHServer.user))
        }

        func connect(port: Int? = nil) async throws -> SSHSession {
            try await SSHSession.connect(to: endpoint(port: port), identity: target.identity,
                                         knownHosts: target.knownHosts, timeout: 10)
        }
    }

    @Test func commandsAndFilesGoThroughTheJumpHostAndBothHostKeysArePinned() async throws {
        let pair = try await Pair()
        defer { pair.jump.stop() }
        let session = try await pair.connect()
        #expect(try await session.exec("echo through; exit 4") == ExecResult(status: 4, stdout: "through\n", stderr: ""))

        // More than the tunnel's buffers hold, both ways, byte for byte.
        var big = [UInt8](repeating: 0, count: 3_000_000)
        for index in big.indices { big[index] = UInt8(truncatingIfNeeded: index &* 7 &+ index >> 11) }
        let path = pair.target.directory.path + "/big.bin"
        try await session.upload(big, to: path, mode: 0o600, owner: nil)
        #expect(try await session.download(path) == big)
        let piped = try await session.exec("wc -c", stdin: big, onOutput: nil)
        #expect(piped.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "3000000")
        await session.close()

        let known = try String(contentsOfFile: pair.target.directory.path + "/known_hosts", encoding: .utf8)
        #expect(known.contains("[127.0.0.1]:\(pair.jump.port) ssh-ed25519"), "the jump host's key is pinned under its own address")
        #expect(known.contains("[127.0.0.1]:\(pair.target.server.port) ssh-ed25519"), "the node's key under the address the jump host reaches")
        let jumpKey = try String(contentsOfFile: pair.jump.hostKeyPath + ".pub", encoding: .utf8).split(separator: " ")[1]
        let targetKey = try String(contentsOfFile: pair.target.server.hostKeyPath + ".pub", encoding: .utf8).split(separator: " ")[1]
        #expect(jumpKey != targetKey)
        #expect(known.contains(String(jumpKey)) && known.contains(String(targetKey)))

        // A second session finds both keys pinned; the tunnel threads of the first are gone.
        let again = try await pair.connect()
        #expect(try await again.exec("echo again").stdout == "again\n")
        await again.close()
    }

    /// A session closed while the node still sends (a cancelled command, a setup that ends) leaves
    /// the tunnel's thread writing to a closed socket: that must end the tunnel, not the process
    /// (a plain write there raises SIGPIPE).
    @Test func closingASessionWhileTheNodeStillSendsEndsOnlyTheTunnel() async throws {
        let pair = try await Pair()
        defer { pair.jump.stop() }
        for _ in 0..<5 {
            let session = try await pair.connect()
            let streaming = Task { try await session.exec("yes 'a line the node keeps sending' | head -c 200000000", stdin: nil, onOutput: { _ in }) }
            try await Task.sleep(nanoseconds: 300_000_000)
            streaming.cancel()
            _ = await streaming.result
            await session.close()
        }
        let again = try await pair.connect()
        #expect(try await again.exec("echo still here").stdout == "still here\n")
        await again.close()
    }

    @Test func aTargetTheJumpHostMayNotReachIsAConnectionItRefusedNotADirectOne() async throws {
        let pair = try await Pair()
        defer { pair.jump.stop() }
        let other = try await SSHServer(directory: pair.target.directory.path, authorizedKeys: [pair.target.key + ".pub"],
                                        hostKeyName: "other_host_ed25519_key")
        defer { other.stop() }
        let error = try await #require(throws: CloudcError.self) { _ = try await pair.connect(port: other.port) }
        #expect(error.code == .config, "sshd refuses to open it (PermitOpen): \(error)")
        #expect(error.message.contains("127.0.0.1:\(other.port)"))
        #expect(error.fix?.contains("AllowTcpForwarding") == true)
    }

    @Test func aClosedPortBehindTheJumpHostIsATransientConnectionFailure() async throws {
        let target = try await SSHFixture()
        let jump = try await SSHServer(directory: target.directory.path, authorizedKeys: [target.key + ".pub"],
                                       hostKeyName: "jump_host_ed25519_key")
        defer { jump.stop() }
        let closed = try freeLocalPort()
        let endpoint = SSHEndpoint(host: "127.0.0.1", port: closed, user: SSHServer.user,
                                   jump: SSHJump(host: "127.0.0.1", port: jump.port, user: SSHServer.user))
        let error = try await #require(throws: CloudcError.self) {
            _ = try await SSHSession.connect(to: endpoint, identity: target.identity, knownHosts: target.knownHosts, timeout: 10)
        }
        #expect(error.code == .connection && SSHConnector.isTransient(error), "\(error)")
        #expect(error.message.contains("cannot connect to 127.0.0.1:\(closed)"))
        #expect(error.fix?.contains("booting") == true)
    }
}

import CloudcCore
import Export
import Foundation
import Testing
import TestSupport

/// The cloud case, against a real sshd: cloudc pins a node's host key under the address it
/// connects to (its public one), but the exported config reaches the node at its private address
/// through the frontend. `HostKeyAlias` makes ssh look the key up under the pinned address, so
/// `StrictHostKeyChecking yes` holds without a second pin. (The local cluster test covers the
/// case without public addresses.) Needs root, as the other sshd tests do.
@Suite(.needsPeer) struct ProxyJumpTests {
    @Test func aNodeBehindTheFrontendIsCheckedAgainstItsPinnedKey() async throws {
        let dir = try TemporaryDirectory("cloudc-proxyjump")
        let key = try makeSSHKey(in: dir.path)
        let server = try await SSHServer(directory: dir.path, authorizedKeys: [key + ".pub"], alsoListenOn: ["127.0.0.2"])
        defer { server.stop() }
        let hostKey = try String(contentsOfFile: server.hostKeyPath + ".pub", encoding: .utf8)
            .split(separator: " ").prefix(2).joined(separator: " ")

        // One sshd plays both nodes: the frontend at 127.0.0.1 ("public"), compute001 at its
        // "private" address 127.0.0.2 as the frontend sees it; cloudc pinned compute001 under its
        // public address (TEST-NET-2, never contacted). The lines are those KnownHosts writes.
        let knownHosts = try dir.write("lab.known_hosts", """
            [127.0.0.1]:\(server.port) \(hostKey)
            198.51.100.7 \(hostKey)

            """)
        var state = Fixtures.state(publicAddresses: true, user: SSHServer.user)
        state.nodes = [
            NodeRecord(name: "frontend001", group: "frontend", privateIP: "10.0.0.2", publicIP: "127.0.0.1", state: .running, flavor: "x"),
            NodeRecord(name: "compute001", group: "compute", privateIP: "127.0.0.2", publicIP: "198.51.100.7", state: .running, flavor: "x"),
        ]
        let handoff = try Handoff(state: state, privateKey: key, publicKey: key + ".pub", knownHosts: knownHosts, stateFile: dir.path + "/lab.json")
        // Real nodes listen on port 22; this sshd does not.
        let text = SSHConfigFormat.render(handoff)
            .replacingOccurrences(of: "    HostName ", with: "    Port \(server.port)\n    HostName ")
        #expect(text.contains("HostKeyAlias 198.51.100.7"))
        let config = try dir.write("lab.ssh", text)

        let through = try await Run.programOffPool("/usr/bin/ssh", ["-F", config, "-o", "BatchMode=yes", "lab-compute001", "echo via-jump"])
        #expect(through.status == 0, "\(through.stderr)")
        #expect(through.stdout == "via-jump\n")

        // Without the alias ssh looks for [127.0.0.2]:PORT, which nobody pinned, and refuses.
        let unaliased = try dir.write("unaliased.ssh", text.replacingOccurrences(of: "    HostKeyAlias 198.51.100.7\n", with: ""))
        let refused = try await Run.programOffPool("/usr/bin/ssh", ["-F", unaliased, "-o", "BatchMode=yes", "lab-compute001", "true"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("127.0.0.2"), "\(refused.stderr)")

        // A different key under the pinned name is refused too: the alias is checked, not skipped.
        let other = try makeSSHKey(in: dir.path, name: "other_host_key")
        let otherKey = try String(contentsOfFile: other + ".pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        try "[127.0.0.1]:\(server.port) \(hostKey)\n198.51.100.7 \(otherKey)\n".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let mismatch = try await Run.programOffPool("/usr/bin/ssh", ["-F", config, "-o", "BatchMode=yes", "lab-compute001", "true"])
        #expect(mismatch.status != 0)
        #expect(mismatch.stderr.contains("HOST IDENTIFICATION HAS CHANGED") || mismatch.stderr.contains("verification failed"),
                "\(mismatch.stderr)")
    }
}

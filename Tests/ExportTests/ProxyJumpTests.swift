import CloudcCore
import Export
import Foundation
import Testing
import TestSupport

/// The cloud case, against a real sshd: cloudc reaches (and pins) a node behind the frontend at
/// its private address through the frontend, and so does the exported config, whatever public
/// address the node may have: `StrictHostKeyChecking yes` finds the key cloudc pinned. Needs
/// root, as the other sshd tests do.
@Suite(.needsPeer) struct ProxyJumpTests {
    @Test func aNodeBehindTheFrontendIsCheckedAgainstItsPinnedKey() async throws {
        let dir = try TemporaryDirectory("cloudc-proxyjump")
        let key = try makeSSHKey(in: dir.path)
        let server = try await SSHServer(directory: dir.path, authorizedKeys: [key + ".pub"], alsoListenOn: ["127.0.0.2"])
        defer { server.stop() }
        let hostKey = try String(contentsOfFile: server.hostKeyPath + ".pub", encoding: .utf8)
            .split(separator: " ").prefix(2).joined(separator: " ")

        // One sshd plays both nodes: the frontend at 127.0.0.1 ("public"), compute001 at its
        // "private" address 127.0.0.2 as the frontend sees it; its public address (TEST-NET-2)
        // is never contacted. The lines are those KnownHosts writes.
        let knownHosts = try dir.write("lab.known_hosts", """
            [127.0.0.1]:\(server.port) \(hostKey)
            [127.0.0.2]:\(server.port) \(hostKey)

            """)
        var state = Fixtures.state(publicAddresses: true, user: SSHServer.user)
        state.nodes = [
            NodeRecord(name: "frontend001", group: "frontend", privateIP: "10.0.0.2", publicIP: "127.0.0.1", state: .running, flavor: "x"),
            NodeRecord(name: "compute001", group: "compute", privateIP: "127.0.0.2", publicIP: "198.51.100.7", state: .running, flavor: "x"),
        ]
        let handoff = try Handoff(state: state, privateKey: key, publicKey: key + ".pub", knownHosts: knownHosts, stateFile: dir.path + "/lab.json")
        #expect(handoff.pinnedAddress(of: state.nodes[1]) == "127.0.0.2")
        // Real nodes listen on port 22; this sshd does not.
        let text = SSHConfigFormat.render(handoff)
            .replacingOccurrences(of: "    HostName ", with: "    Port \(server.port)\n    HostName ")
        #expect(!text.contains("198.51.100.7") && !text.contains("HostKeyAlias"))
        let config = try dir.write("lab.ssh", text)

        let through = try await Run.programOffPool("/usr/bin/ssh", ["-F", config, "-o", "BatchMode=yes", "lab-compute001", "echo via-jump"])
        #expect(through.status == 0, "\(through.stderr)")
        #expect(through.stdout == "via-jump\n")

        // A different key pinned for the node is refused: the pin is checked, not skipped.
        let other = try makeSSHKey(in: dir.path, name: "other_host_key")
        let otherKey = try String(contentsOfFile: other + ".pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        try "[127.0.0.1]:\(server.port) \(hostKey)\n[127.0.0.2]:\(server.port) \(otherKey)\n".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let mismatch = try await Run.programOffPool("/usr/bin/ssh", ["-F", config, "-o", "BatchMode=yes", "lab-compute001", "true"])
        #expect(mismatch.status != 0)
        #expect(mismatch.stderr.contains("HOST IDENTIFICATION HAS CHANGED") || mismatch.stderr.contains("verification failed"),
                "\(mismatch.stderr)")
    }
}

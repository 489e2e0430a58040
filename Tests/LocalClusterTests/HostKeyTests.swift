import CLITestSupport
import CloudcCore
import Foundation
import State
import Testing
import TestSupport

/// Local nodes' host keys are made by cloudc at boot and pinned before the first connection:
/// whoever answers first on the bridge is not trusted with the munge key. Needs root (as in CI).
@Suite(.serialized, .needsRoot) struct HostKeyTests {
    @Test func theFirstConnectionIsCheckedAgainstTheKeysMadeAtBoot() async throws {
        try LocalClusterTests.requireRoot()
        let root = try TemporaryDirectory("cloudc-local")
        let user = try UserMachine(moto: nil, config: LocalClusterTests.config(root: root.path, template: "lab", groups: """
            frontend: {count: 1}
            compute: {count: 1}
            """), extraEnvironment: ["CLOUDC_SHARE": Paths.repoRoot])
        let start = await user.cloudc("start", "lab", "--no-setup")
        defer { Task { _ = await user.cloudc("stop", "lab") } }
        #expect(start.status == 0, "\(start.stderr)")
        let store = StateStore(home: user.home.path + "/.cloudc")
        var state = try #require(try store.load("lab"))
        // No connection was made (--no-setup), yet every node's keys made at boot are pinned.
        let knownHosts = store.knownHostsPath(of: "lab")
        let pinnedAtStart = (try? String(contentsOfFile: knownHosts, encoding: .utf8)) ?? ""
        for node in state.nodes {
            let key = try #require(node.hostKeys?.first { $0.hasPrefix("ssh-ed25519 ") }, "\(node.name): \(String(describing: node.hostKeys))")
            #expect(pinnedAtStart.contains("\(node.privateIP ?? "?") \(key)\n"), "\(pinnedAtStart)")
        }

        // The provider says the frontend's key is another one: the first connection must refuse
        // the key that answers, as it would an impostor's.
        let frontend = try #require(state.nodes.firstIndex { $0.group == "frontend" })
        let realKeys = try #require(state.nodes[frontend].hostKeys)
        let other = try makeSSHKey(in: root.path, name: "impostor")
        let otherKey = try String(contentsOfFile: other + ".pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        state.nodes[frontend].hostKeys = [otherKey]
        try store.save(state)
        let refused = await user.cloudc("ssh", "lab", "--", "true")
        #expect(refused.status != 0 && refused.stderr.contains("differs from the one recorded"), "\(refused.stderr)")

        // With the keys made at boot, the connection and the pin agree with what the nodes hold.
        state.nodes[frontend].hostKeys = realKeys
        try store.save(state)
        let ran = await user.cloudc("ssh", "lab", "--", "cat /etc/ssh/ssh_host_ed25519_key.pub")
        #expect(ran.status == 0, "\(ran.stderr)")
        #expect(ran.stdout.hasPrefix(realKeys[0]), "\(ran.stdout)")
        let pinned = try String(contentsOfFile: knownHosts, encoding: .utf8)
        let address = try #require(state.nodes[frontend].privateIP)
        #expect(pinned.contains("\(address) \(realKeys[0])"), "\(pinned)")
        let stop = await user.cloudc("stop", "lab")
        #expect(stop.status == 0, "\(stop.stderr)")
    }
}

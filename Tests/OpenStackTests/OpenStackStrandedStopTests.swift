import CLITestSupport
import Foundation
import Testing
import TestSupport

/// `cloudc stop NAME` with no state file, on OpenStack: a stop killed after the servers went,
/// then the state deleted; the security groups outlive the servers and give the start away,
/// and the key pair and floating IPs are found by their names from it.
@Suite(.serialized, .needsPeer) struct OpenStackStrandedStopTests {
    @Test func whatOutlivesTheServersIsFoundByNameAndDeleted() async throws {
        try await OpenStackPeer.with { peer in
            let user = try OpenStackClusterTests.user(peer)
            #expect(await user.cloudc("start", "uni", "--no-setup").status == 0)
            _ = try await user.runCloudcKilled(["stop", "uni"], at: KillPoint("between the servers and the floating IPs", failpoint: "stop.after-terminate"))
            let between = try await peer.state()
            #expect(between.servers.isEmpty && between.keypairs.count == 1, "\(between.keypairs)")
            for file in user.stateFiles() { try FileManager.default.removeItem(atPath: user.stateDirectory + "/" + file) }

            let forced = await user.cloudc("stop", "uni", "--force")
            #expect(forced.status == 0, "\(forced.stderr)")
            let listed = forced.stdout.split(separator: "\n")
            #expect(listed.contains { $0.hasPrefix("  key-pair cloudc-uni-") } && listed.filter { $0.hasPrefix("  security-group cloudc-uni-") }.count == 2, "\(forced.stdout)")
            try await OpenStackClusterTests().expectNothingLeft(peer)
            #expect(user.stateFiles().isEmpty)
        }
    }
}

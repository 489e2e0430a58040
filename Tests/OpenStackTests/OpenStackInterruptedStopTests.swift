import CLITestSupport
import Foundation
import Testing
import TestSupport

/// `cloudc stop` on OpenStack (a real Keystone and the Nova/Neutron peer) killed with SIGKILL at
/// each point of its work, then run again: no server, floating IP, key pair or security group is left.
@Suite(.serialized, .needsPeer) struct OpenStackInterruptedStopTests {
    static let points: [KillPoint] = [
        // The peer deletes within milliseconds under load: a timed kill may come after the whole stop.
        KillPoint("as the servers are deleted, before it is confirmed", failpoint: "stop.after-terminate-call"),
        KillPoint("between the servers and the floating IPs", failpoint: "stop.after-terminate"),
        KillPoint("after the floating IPs", failpoint: "stop.after-delete.floating-ip"),
        KillPoint("after the cloud calls, before the state is removed", failpoint: "stop.before-forgetting"),
    ]

    @Test(arguments: points)
    func aKilledStopIsFinishedByTheNext(_ point: KillPoint) async throws {
        try await OpenStackPeer.with { peer in
            let user = try OpenStackClusterTests.user(peer)
            let start = await user.cloudc("start", "uni", "--no-setup")
            #expect(start.status == 0, "\(start.stderr)")

            let killed = try await user.runCloudcKilled(["stop", "uni"], at: point)
            #expect(!killed.stderr.contains("Cluster uni is gone"), "the first stop finished: \(killed.stderr)")
            let between = try await peer.state()
            print("OpenStack stop killed \(point.description): left \(between.servers.count) server(s), \(between.floatingIPs.count) floating IP(s), "
                  + "\(between.keypairs.count) key pair(s), \(between.securityGroups.filter { $0.name.hasPrefix("cloudc-") }.count) security group(s), "
                  + "state file: \(!user.stateFiles().isEmpty)")
            #expect(!user.stateFiles().isEmpty, "the state went before the cloud's resources")

            let again = await user.cloudc("stop", "uni")
            #expect(again.status == 0, "\(again.stderr)")
            try await OpenStackClusterTests().expectNothingLeft(peer)
            #expect(user.stateFiles().isEmpty)
        }
    }
}

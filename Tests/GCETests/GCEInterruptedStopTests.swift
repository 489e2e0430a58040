import CLITestSupport
import Foundation
import Testing
import TestSupport

/// `cloudc stop` on GCE killed with SIGKILL at each point of its work, then run again: the peer
/// is left with no instance, disk or firewall of the cluster, and the state is gone.
@Suite(.serialized, .needsPeer) struct GCEInterruptedStopTests {
    static let points: [KillPoint] = [
        KillPoint("while the deletes are in flight", line: "Terminating 4 instance(s)", delay: 0.2),
        KillPoint("between the instances and the firewalls", failpoint: "stop.after-terminate"),
        KillPoint("between the firewall rules", failpoint: "stop.after-delete.firewall"),
        // Google refuses a second delete (resourceNotReady) while the first one's operation runs.
        KillPoint("while a firewall delete runs", failpoint: "gce.after-firewall-delete-call"),
        KillPoint("after the cloud calls, before the state is removed", failpoint: "stop.before-forgetting"),
    ]

    @Test(arguments: points)
    func aKilledStopIsFinishedByTheNext(_ point: KillPoint) async throws {
        try await GCEPeer.with { peer in
            let user = try GCEClusterTests.user(peer)
            let start = await user.cloudc("start", "gce", "--no-setup")
            #expect(start.status == 0, "\(start.stderr)")
            // Slow the cloud down so a kill lands while its operations run (and, killed after a
            // delete call, that delete still runs when the second stop asks again).
            try await peer.settings(stepSeconds: point.failpoint == "gce.after-firewall-delete-call" ? 6.0 : 1.0)
            let killed = try await user.runCloudcKilled(["stop", "gce"], at: point)
            #expect(!killed.stderr.contains("Cluster gce is gone"), "the first stop finished: \(killed.stderr)")
            let between = try await peer.state()
            print("GCE stop killed \(point.description): left \(between.instances.count) instance(s), \(between.disks.count) disk(s), "
                  + "\(between.firewalls.count) firewall(s), state file: \(!user.stateFiles().isEmpty)")
            #expect(!user.stateFiles().isEmpty, "the state went before the cloud's resources")

            try await peer.settings(stepSeconds: 0.3)
            let again = await user.cloudc("stop", "gce")
            #expect(again.status == 0, "\(again.stderr)")
            let after = try await peer.state()
            #expect(after.instances.isEmpty, "instances left: \(after.instances.map(\.name))")
            #expect(after.disks.isEmpty, "disks left: \(after.disks.map(\.name))")
            #expect(after.firewalls.filter { $0.name.hasPrefix("cloudc-") }.isEmpty, "firewalls left: \(after.firewalls.map(\.name))")
            #expect(user.stateFiles().isEmpty)
        }
    }
}

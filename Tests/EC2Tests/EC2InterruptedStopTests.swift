import CLITestSupport
import Foundation
import Testing
import TestSupport

/// `cloudc stop` on EC2 (moto, signatures checked) killed with SIGKILL at each point of its work,
/// then run again: no instance, volume, security group or key pair of the cluster is left.
@Suite(.serialized, .needsPeer) struct EC2InterruptedStopTests {
    static let points: [KillPoint] = [
        // moto terminates at once: no outside timing lands between the call and its confirmation.
        KillPoint("as the instances are terminated, before it is confirmed", failpoint: "stop.after-terminate-call"),
        KillPoint("between the instances and the security group", failpoint: "stop.after-terminate"),
        KillPoint("between the security group and the key pair", failpoint: "stop.after-delete.security-group"),
        KillPoint("after the cloud calls, before the state is removed", failpoint: "stop.before-forgetting"),
    ]

    @Test(arguments: points)
    func aKilledStopIsFinishedByTheNext(_ point: KillPoint) async throws {
        try await MotoServer.with { moto in
            let user = try UserMachine(moto: moto, config: ec2Config())
            let start = await user.cloudc("start", "aws-demo", "--no-setup")
            #expect(start.status == 0, "\(start.stderr)")
            let up = try moto.inventory(cluster: "aws-demo")
            #expect(up.live_instances.count == 3 && up.volumes.count == 3, "\(up)")

            let killed = try await user.runCloudcKilled(["stop", "aws-demo"], at: point)
            #expect(!killed.stderr.contains("Cluster aws-demo is gone"), "the first stop finished: \(killed.stderr)")
            let between = try moto.inventory(cluster: "aws-demo")
            print("EC2 stop killed \(point.description): left \(between.live_instances.count) instance(s), \(between.volumes.count) volume(s), "
                  + "\(between.security_groups.count) security group(s), \(between.key_pairs.count) key pair(s), state file: \(!user.stateFiles().isEmpty)")
            #expect(!user.stateFiles().isEmpty, "the state went before the cloud's resources")

            let again = await user.cloudc("stop", "aws-demo")
            #expect(again.status == 0, "\(again.stderr)")
            let down = try moto.inventory(cluster: "aws-demo")
            #expect(down.live_instances.isEmpty && down.volumes.isEmpty, "\(down)")
            #expect(down.security_groups.isEmpty && down.key_pairs.isEmpty, "\(down)")
            #expect(user.stateFiles().isEmpty)
        }
    }
}

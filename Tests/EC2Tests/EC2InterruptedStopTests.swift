import CLITestSupport
import Foundation
import Testing
import TestSupport

/// `cloudc stop` on EC2 (moto, signatures checked) killed with SIGKILL at each point of its work,
/// then run again: no instance, volume, security group or key pair of the cluster is left.
@Suite(.serialized) struct EC2InterruptedStopTests {
    struct KillPoint: Sendable, CustomTestStringConvertible {
        var testDescription: String
        var line: String?
        var failpoint: String?
    }

    static let points: [KillPoint] = [
        KillPoint(testDescription: "as the instances are terminated", line: "Terminating 3 instance(s)"),
        KillPoint(testDescription: "between the instances and the security group", failpoint: "stop.after-terminate"),
        KillPoint(testDescription: "between the security group and the key pair", failpoint: "stop.after-delete.security-group"),
        KillPoint(testDescription: "after the cloud calls, before the state is removed", failpoint: "stop.before-forgetting"),
    ]

    @Test(arguments: points)
    func aKilledStopIsFinishedByTheNext(_ point: KillPoint) async throws {
        try await MotoServer.with { moto in
            let user = try UserMachine(moto: moto, config: ec2Config())
            let start = await user.cloudc("start", "aws-demo", "--no-setup")
            #expect(start.status == 0, "\(start.stderr)")
            let up = try moto.inventory(cluster: "aws-demo")
            #expect(up.live_instances.count == 3 && up.volumes.count == 3, "\(up)")

            let killed = try await user.runCloudcKilled(["stop", "aws-demo"], atLine: point.line, delay: point.line == nil ? 60 : 0,
                                                        environment: point.failpoint.map { ["CLOUDC_FAILPOINT": $0] } ?? [:])
            #expect(!killed.stderr.contains("Cluster aws-demo is gone"), "the first stop finished: \(killed.stderr)")
            let between = try moto.inventory(cluster: "aws-demo")
            print("EC2 stop killed \(point.testDescription): left \(between.live_instances.count) instance(s), \(between.volumes.count) volume(s), "
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

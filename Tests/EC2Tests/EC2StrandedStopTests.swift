import CLITestSupport
import Foundation
import Testing
import TestSupport

/// `cloudc stop NAME` when the state file is gone or does not read: what EC2 (moto) holds of the
/// cluster is found by the instances' tags and the security groups' and key pair's names, listed,
/// and deleted only when confirmed (`--force` here: the tests have no terminal).
@Suite(.serialized, .needsPeer) struct EC2StrandedStopTests {
    @Test func aClusterWhoseStateWasDeletedIsFoundListedAndStoppedWithForce() async throws {
        try await MotoServer.with { moto in
            let user = try UserMachine(moto: moto, config: ec2Config())
            #expect(await user.cloudc("start", "aws-demo", "--no-setup").status == 0)
            for file in user.stateFiles() { try FileManager.default.removeItem(atPath: user.stateDirectory + "/" + file) }
            #expect(await user.cloudc("list").stderr.contains("No clusters"))

            let asked = await user.cloudc("stop", "aws-demo")
            #expect(asked.status == 2, "\(asked.stderr)")
            #expect(asked.stderr.contains("there is no state file; searching aws"), "\(asked.stderr)")
            #expect(asked.stderr.contains("nothing was deleted") && asked.stderr.contains("fix: to delete them all: cloudc stop aws-demo --force"), "\(asked.stderr)")
            let listed = asked.stdout.split(separator: "\n").map(String.init)
            #expect(listed.filter { $0.hasPrefix("  instance i-") && $0.contains("running") }.count == 3, "\(asked.stdout)")
            #expect(listed.filter { $0.hasPrefix("  security-group cloudc-aws-demo-") }.count == 2, "\(asked.stdout)")
            #expect(listed.filter { $0.hasPrefix("  key-pair cloudc-aws-demo-") }.count == 1, "\(asked.stdout)")
            let untouched = try moto.inventory(cluster: "aws-demo")
            #expect(untouched.live_instances.count == 3 && untouched.security_groups.count == 2 && untouched.key_pairs.count == 1, "\(untouched)")

            let forced = await user.cloudc("stop", "aws-demo", "--force")
            #expect(forced.status == 0, "\(forced.stderr)")
            let down = try moto.inventory(cluster: "aws-demo")
            #expect(down.live_instances.isEmpty && down.volumes.isEmpty && down.security_groups.isEmpty && down.key_pairs.isEmpty, "\(down)")
            #expect(user.stateFiles().isEmpty)
            // A stop killed just after the state went leaves the cluster's own files: the next
            // one, finding nothing anywhere, removes them.
            for leftover in ["aws-demo.lock", "aws-demo.known_hosts"] {
                try "".write(toFile: user.stateDirectory + "/" + leftover, atomically: false, encoding: .utf8)
            }
            let again = await user.cloudc("stop", "aws-demo", "--force")
            #expect(again.status == 1 && again.stderr.contains("the clouds hold nothing of it"), "\(again.stderr)")
            let left = try FileManager.default.contentsOfDirectory(atPath: user.stateDirectory).filter { $0.hasPrefix("aws-demo.") }
            #expect(left.isEmpty, "\(left)")
        }
    }

    /// A stop killed after the instances went, then the state file damaged: the security groups
    /// and the key pair outlive the instances and are found by their names alone.
    @Test func resourcesWithoutInstancesAndAnUnreadableStateAreFoundByName() async throws {
        try await MotoServer.with { moto in
            let user = try UserMachine(moto: moto, config: ec2Config())
            #expect(await user.cloudc("start", "aws-demo", "--no-setup").status == 0)
            _ = try await user.runCloudcKilled(["stop", "aws-demo"], at: KillPoint("between the instances and the security group", failpoint: "stop.after-terminate"))
            let between = try moto.inventory(cluster: "aws-demo")
            #expect(between.live_instances.isEmpty && between.security_groups.count == 2, "\(between)")
            let file = user.stateDirectory + "/" + (try #require(user.stateFiles().first))
            try "{\"schema\": 1, \"name\": ".write(toFile: file, atomically: false, encoding: .utf8)

            let forced = await user.cloudc("stop", "aws-demo", "--force")
            #expect(forced.status == 0, "\(forced.stderr)")
            #expect(forced.stderr.contains("its state file does not read"), "\(forced.stderr)")
            #expect(!forced.stdout.contains("instance i-"), "\(forced.stdout)")
            let down = try moto.inventory(cluster: "aws-demo")
            #expect(down.security_groups.isEmpty && down.key_pairs.isEmpty, "\(down)")
            // The damaged file is kept beside, never overwritten.
            let folder = (file as NSString).deletingLastPathComponent
            let kept = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix("aws-demo.json.unreadable-") }
            #expect(kept.count == 1, "\(kept)")
        }
    }
}

import CLITestSupport
import Foundation
import Testing
import TestSupport

/// `--dry-run` against moto: the read-only checks a start makes, and no action that changes
/// anything (moto_peer counts every action but Describe*, Get* and List*, refused ones too).
@Suite(.serialized, .needsPeer) struct EC2DryRunTests {
    @Test func aDryRunStartChecksAndChangesNothing() async throws {
        try await MotoServer.with { moto in
            let user = try UserMachine(moto: moto, config: ec2Config(computeFlavor: "g4dn.xlarge", computeGPUs: 1))
            let before = try await moto.mutatingRequests()
            let dry = await user.cloudc("start", "aws-demo", "--dry-run")
            #expect(dry.status == 0, "\(dry.stderr)")
            let row = try #require(dry.stdout.split(separator: "\n").first { $0.hasPrefix("compute ") }, "\(dry.stdout)")
            for word in ["+2", "g4dn.xlarge", "1", "us-east-1", "yes", "unknown"] { #expect(row.contains(word), "\(row)") }
            #expect(dry.stdout.contains("Would add 3 node(s) with 2 GPU(s)."), "\(dry.stdout)")
            let after = try await moto.mutatingRequests()
            #expect(after.count == before.count, "changed: \(after.actions) (before: \(before.actions))")
            #expect(user.stateFiles().isEmpty)

            let wrong = try UserMachine(moto: moto, config: ec2Config(computeFlavor: "c5.xlarge", computeGPUs: 1))
            let refused = await wrong.cloudc("start", "aws-demo", "--dry-run")
            #expect(refused.status != 0 && refused.stderr.contains("has 0"), "\(refused.stderr)")
            #expect(try await moto.mutatingRequests().count == before.count)
        }
    }
}

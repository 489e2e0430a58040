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
            #expect(dry.stdout.contains("unknown: no prices of aws fetched yet (see: cloudc prices update aws)"), "\(dry.stdout)")

            // AWS's Price List (GetProducts, read-only as well): Linux on shared tenancy, on
            // demand, in us-east-1: t3.medium $0.0416, g4dn.xlarge $0.526. The Price List has no
            // spot prices: a spot node costs at most its on-demand price.
            let update = await user.cloudc("prices", "update", "aws")
            #expect(update.status == 0, "\(update.stderr)")
            #expect(update.stderr.contains("aws: 7 machine type(s) and 0 GPU type(s) in us-east-1"), "\(update.stderr)")
            let priced = await user.cloudc("start", "aws-demo", "--dry-run")
            let rows = priced.stdout.split(separator: "\n").map(String.init)
            print(priced.stdout)
            #expect(rows.contains { $0.hasPrefix("frontend ") && $0.hasSuffix(" $0.0416") }, "\(priced.stdout)")
            #expect(rows.contains { $0.hasPrefix("compute ") && $0.hasSuffix(" ≤ $0.5260 (spot)") }, "\(priced.stdout)")
            #expect(priced.stdout.contains("The whole cluster (3 node(s)) would cost at most $1.0936 per hour (prices: AWS Price List Query API"), "\(priced.stdout)")
            let afterPrices = try await moto.mutatingRequests()
            #expect(afterPrices.count == before.count, "\(afterPrices.actions)")

            let wrong = try UserMachine(moto: moto, config: ec2Config(computeFlavor: "c5.xlarge", computeGPUs: 1))
            let refused = await wrong.cloudc("start", "aws-demo", "--dry-run")
            #expect(refused.status != 0 && refused.stderr.contains("has 0"), "\(refused.stderr)")
            #expect(try await moto.mutatingRequests().count == before.count)
        }
    }

    /// The Price List peer itself, checked with boto3 (AWS's own SDK): signatures recomputed with
    /// botocore, the model's input limits, filters, paging, tokens, IAM.
    @Test func thePriceListPeerAnswersAsAWSDoesToBoto3() async throws {
        let run = try await Run.programOffPool("/usr/bin/env", ["python3", Paths.peers + "/test_aws_pricing.py"])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stderr.contains("Ran 12 tests") && run.stderr.contains("OK"), "\(run.stderr)")
    }

    @Test func pricesRefusedByIAMAreSaidAndKeepNoCache() async throws {
        try await MotoServer.with(denied: ["pricing:GetProducts"]) { moto in
            let user = try UserMachine(moto: moto, config: ec2Config())
            let refused = await user.cloudc("prices", "update")
            #expect(refused.status == 1, "\(refused.stderr)")
            #expect(refused.stderr.contains("AWS's Price List refused: AccessDeniedException"), "\(refused.stderr)")
            #expect(refused.stderr.contains("need the IAM permission pricing:GetProducts"), "\(refused.stderr)")
            #expect(refused.stderr.contains("fix: see the reason above each, then run: cloudc prices update aws"), "\(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: user.home.path + "/.cloudc/prices/aws.json"))
            let listed = await user.cloudc("prices")
            #expect(listed.stdout.split(separator: "\n").contains { $0.hasPrefix("aws ") && $0.contains("run: cloudc prices update aws") }, "\(listed.stdout)")
        }
    }
}

import CLITestSupport
import Foundation
import Testing
import TestSupport

/// `--dry-run` checks a start or a resize against the cloud with read-only calls and creates
/// nothing: the peer itself counts every request that would change something (refused ones too).
@Suite(.serialized, .needsPeer) struct GCEDryRunTests {
    @Test func aDryRunStartChecksEverythingAndChangesNothing() async throws {
        try await GCEPeer.with { peer in
            let user = try GCEClusterTests.user(peer)
            let before = try await peer.mutatingRequests()
            let dry = await user.cloudc("start", "gce", "--dry-run")
            #expect(dry.status == 0, "\(dry.stderr)")
            #expect(dry.stdout.contains("Dry run of cloudc start gce: nothing was created."), "\(dry.stdout)")
            let gpuRow = try #require(dry.stdout.split(separator: "\n").first { $0.hasPrefix("gpu ") }, "\(dry.stdout)")
            for word in ["+1", "n1-standard-8", "1 × nvidia-tesla-t4", "us-central1-a, then us-central1-b", "yes", "unknown"] {
                #expect(gpuRow.contains(word), "\(gpuRow)")
            }
            #expect(dry.stdout.contains("Would add 4 node(s) with 1 GPU(s)."), "\(dry.stdout)")
            #expect(dry.stdout.contains("no price data"), "it never guesses a price: \(dry.stdout)")
            #expect(try await peer.mutatingRequests() == before, "a dry run makes no call that changes anything")
            #expect(try await peer.state().instances.isEmpty)
            #expect(user.stateFiles().isEmpty, "not even a state file")

            // A mistake is found by the dry run, as by the start, still without a change.
            let wrong = try UserMachine(moto: nil, config: GCEClusterTests.config(peer)
                .replacingOccurrences(of: "n2-standard-8", with: "n2-standrad-8"))
            let refused = await wrong.cloudc("start", "gce", "--dry-run")
            #expect(refused.status != 0 && refused.stderr.contains("machine type n2-standrad-8"), "\(refused.stderr)")
            #expect(try await peer.mutatingRequests() == before)
        }
    }

    @Test func aDryRunResizeOfARunningClusterChangesNothing() async throws {
        try await GCEPeer.with { peer in
            let user = try GCEClusterTests.user(peer)
            #expect(await user.cloudc("start", "gce", "--no-setup").status == 0)
            let before = try await peer.mutatingRequests()
            let instances = try await peer.state().instances.count
            let grow = await user.cloudc("resize", "+2", "compute", "--dry-run")
            #expect(grow.status == 0, "\(grow.stderr)")
            #expect(grow.stdout.contains("Would add 2 node(s)."), "\(grow.stdout)")
            let shrink = await user.cloudc("resize", "-1", "compute", "--dry-run")
            #expect(shrink.status == 0 && shrink.stdout.contains("It would drain compute002"), "\(shrink.stdout) \(shrink.stderr)")
            #expect(try await peer.mutatingRequests() == before)
            #expect(try await peer.state().instances.count == instances)
            #expect(await user.cloudc("stop").status == 0)
        }
    }
}

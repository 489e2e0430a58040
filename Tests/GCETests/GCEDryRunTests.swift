import CLITestSupport
import CloudcCore
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
            // The region's quotas (regions.get): e2 in CPUS, n2 in N2_CPUS, the spot n1 and its T4
            // in the preemptible metrics.
            #expect(dry.stdout.contains("Quota in region us-central1 of project \(peer.project): 96 of 96 CPUS free, 4 needed; "
                                        + "1500 of 1500 INSTANCES free, 4 needed; 96 of 96 N2_CPUS free, 16 needed; "
                                        + "96 of 96 PREEMPTIBLE_CPUS free, 8 needed; 4 of 4 PREEMPTIBLE_NVIDIA_T4_GPUS free, 1 needed."), "\(dry.stdout)")
            #expect(dry.stdout.contains("unknown: no prices of gce fetched yet (see: cloudc prices update gce)"), "it never guesses a price: \(dry.stdout)")
            #expect(try await peer.mutatingRequests() == before, "a dry run makes no call that changes anything")
            #expect(try await peer.state().instances.isEmpty)
            #expect(user.stateFiles().isEmpty, "not even a state file")

            // With Google's prices fetched (the Billing Catalog's SKUs and the zones' machine
            // types, read-only too), each group is priced by its parts in us-central1:
            // e2-standard-4 = 4 × 0.021811 + 16 GiB × 0.002923; n2-standard-8 = 8 × 0.031611 +
            // 32 × 0.004237; spot n1-standard-8 + a spot T4 = 8 × 0.010432 + 30 × 0.001398 + 0.14.
            let update = await user.cloudc("prices", "update")
            #expect(update.status == 0, "\(update.stderr)")
            #expect(update.stderr.contains("gce: ") && update.stderr.contains("in us-central1"), "\(update.stderr)")
            let priced = await user.cloudc("start", "gce", "--dry-run")
            #expect(priced.status == 0, "\(priced.stderr)")
            let rows = priced.stdout.split(separator: "\n").map(String.init)
            print(priced.stdout)
            #expect(rows.contains { $0.hasPrefix("frontend ") && $0.hasSuffix(" $0.1340") }, "\(priced.stdout)")
            #expect(rows.contains { $0.hasPrefix("compute ") && $0.hasSuffix(" $0.3885") }, "\(priced.stdout)")
            #expect(rows.contains { $0.hasPrefix("gpu ") && $0.hasSuffix(" $0.2654") }, "\(priced.stdout)")
            #expect(priced.stdout.contains("The whole cluster (4 node(s)) would cost $1.1764 per hour (prices: Google Cloud Billing Catalog API"), "\(priced.stdout)")
            #expect(priced.stdout.contains("fetched \(PriceBook.day(Date())), less than an hour ago"), "\(priced.stdout)")
            let table = await user.cloudc("prices", "gce")
            #expect(table.stdout.split(separator: "\n").contains { $0.hasPrefix("nvidia-tesla-t4 ") && $0.contains("us-central1") && $0.contains("$0.3500") && $0.contains("$0.1400") },
                    "\(table.stdout) \(table.stderr)")
            #expect(try await peer.mutatingRequests() == before, "fetching prices changes nothing either")

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
            let started = await user.cloudc("start", "gce", "--no-setup")
            #expect(started.status == 0, "\(started.stderr)")
            #expect(started.stderr.contains("Price of its 4 node(s) unknown: no prices of gce fetched yet"), "\(started.stderr)")
            let before = try await peer.mutatingRequests()
            let instances = try await peer.state().instances.count
            let grow = await user.cloudc("resize", "+2", "compute", "--dry-run")
            #expect(grow.status == 0, "\(grow.stderr)")
            #expect(grow.stdout.contains("Would add 2 node(s)."), "\(grow.stdout)")
            // No prices fetched: the start said so before it created anything, and list says unknown.
            #expect(try await user.cloudc("list").stdout.split(separator: "\n").contains { $0.hasPrefix("gce") && $0.hasSuffix("unknown") && $0.components(separatedBy: "unknown").count == 3 })
            #expect(await user.cloudc("prices", "update", "gce").status == 0)
            let priced = await user.cloudc("resize", "+2", "compute", "--dry-run")
            // Two n2-standard-8 more, and the cluster as it would then be: 1 + 4 + 1 nodes.
            #expect(priced.stdout.contains("The added 2 node(s) would cost $0.7769 per hour"), "\(priced.stdout)")
            #expect(priced.stdout.contains("The whole cluster (6 node(s)) would cost $1.9533 per hour"), "\(priced.stdout)")
            let listed = await user.cloudc("list")
            #expect(listed.stdout.split(separator: "\n").contains { $0.hasPrefix("gce") && $0.contains(" $1.1764 ") }, "\(listed.stdout)")
            let shrink = await user.cloudc("resize", "-1", "compute", "--dry-run")
            #expect(shrink.status == 0 && shrink.stdout.contains("It would drain compute002"), "\(shrink.stdout) \(shrink.stderr)")
            #expect(try await peer.mutatingRequests() == before)
            #expect(try await peer.state().instances.count == instances)
            #expect(await user.cloudc("stop").status == 0)
        }
    }

    /// A quota too small for the plan fails the dry run, naming it, still without a change.
    @Test func aQuotaTooSmallIsNamedByTheDryRun() async throws {
        try await GCEPeer.with { peer in
            let user = try GCEClusterTests.user(peer)
            try await peer.setQuota(region: "us-central1", metric: "N2_CPUS", limit: 8)
            let before = try await peer.mutatingRequests()
            let dry = await user.cloudc("start", "gce", "--dry-run")
            #expect(dry.status == 1, "\(dry.stdout) \(dry.stderr)")
            #expect(dry.stderr.contains("not enough quota in region us-central1 of project \(peer.project): 8 of 8 N2_CPUS free, 16 needed"), "\(dry.stderr)")
            #expect(dry.stderr.contains("fix: ask for more in the console"), "\(dry.stderr)")
            #expect(try await peer.mutatingRequests() == before)
        }
    }
}

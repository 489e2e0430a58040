import CLITestSupport
import Foundation
import Testing
import TestSupport

/// `--dry-run` against the Nova/Neutron/Glance peer behind a real Keystone: read-only checks,
/// and not one request that changes anything (the peer counts them, refused ones too).
@Suite(.serialized, .needsPeer) struct OpenStackDryRunTests {
    @Test func aDryRunStartChecksAndChangesNothing() async throws {
        try await OpenStackPeer.with { peer in
            let user = try OpenStackClusterTests.user(peer)
            let before = try await peer.mutatingRequests()
            let dry = await user.cloudc("start", "uni", "--dry-run")
            #expect(dry.status == 0, "\(dry.stderr)")
            #expect(dry.stdout.contains("Dry run of cloudc start uni: nothing was created."), "\(dry.stdout)")
            // OpenStack publishes no prices: unknown per group and for the cluster, never a guess;
            // `prices update` says so too, and writes nothing.
            #expect(dry.stdout.split(separator: "\n").contains { $0.hasPrefix("compute ") && $0.hasSuffix(" unknown") }, "\(dry.stdout)")
            #expect(dry.stdout.contains("unknown: OpenStack clouds publish no prices (cloudc never guesses one)."), "\(dry.stdout)")
            print(dry.stdout)
            // Nova's absolute limits: the peer's project may have 10 instances; cores and RAM are unlimited.
            #expect(dry.stdout.contains("Quota in the project of cloud uni: 10 of 10 instances free, 4 needed; cores: no limit; MB of RAM: no limit."), "\(dry.stdout)")
            let update = await user.cloudc("prices", "update", "uni")
            #expect(update.status == 0 && update.stderr.contains("uni: openstack publishes no prices"), "\(update.stderr)")
            #expect(!FileManager.default.fileExists(atPath: user.home.path + "/.cloudc/prices"))
            #expect(try await peer.mutatingRequests() == before)
            #expect(try await peer.state().servers.isEmpty)
            #expect(user.stateFiles().isEmpty)
        }
    }

    /// Seven more nodes on top of four would pass the project's 10 instances: the dry run of the
    /// resize says so, and nothing changes.
    @Test func aResizeBeyondTheInstanceLimitIsRefusedByItsDryRun() async throws {
        try await OpenStackPeer.with { peer in
            let user = try OpenStackClusterTests.user(peer)
            #expect(await user.cloudc("start", "uni", "--no-setup").status == 0)
            let before = try await peer.mutatingRequests()
            let dry = await user.cloudc("resize", "uni", "+7", "compute", "--dry-run")
            #expect(dry.status == 1 && dry.stderr.contains("not enough quota in the project of cloud uni: 6 of 10 instances free, 7 needed"), "\(dry.stderr)")
            #expect(try await peer.mutatingRequests() == before)
            #expect(await user.cloudc("stop", "uni").status == 0)
        }
    }
}

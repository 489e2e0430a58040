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
            #expect(dry.stdout.contains("Price unknown"), "\(dry.stdout)")
            #expect(try await peer.mutatingRequests() == before)
            #expect(try await peer.state().servers.isEmpty)
            #expect(user.stateFiles().isEmpty)
        }
    }
}

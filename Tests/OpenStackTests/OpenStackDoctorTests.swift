import CLITestSupport
import Foundation
import Testing
import TestSupport

/// `cloudc doctor` on OpenStack: a server deleted in Nova behind cloudc's back is a lost node,
/// `--fix` forgets it, and the cluster is healthy again.
@Suite(.serialized, .needsPeer) struct OpenStackDoctorTests {
    @Test func aServerDeletedBehindCloudcsBackIsALostNodeThatFixForgets() async throws {
        try await OpenStackPeer.with { peer in
            let user = try OpenStackClusterTests.user(peer)
            #expect(await user.cloudc("start", "uni", "--no-setup").status == 0)
            #expect(await user.cloudc("doctor", "uni").status == 0)
            let nodes = try JSONSerialization.jsonObject(with: Data(await user.cloudc("list-nodes", "--json").stdout.utf8)) as? [[String: Any]] ?? []
            let id = try #require(nodes.first { $0["name"] as? String == "compute002" }?["instance_id"] as? String)
            let deleted = try await peer.api("compute", "DELETE", "/servers/\(id)", token: try await peer.token())
            #expect(deleted.status == 204)
            let deadline = Date().addingTimeInterval(30)
            while try await peer.state().servers.contains(where: { $0.id == id }), Date() < deadline {
                try await Task.sleep(nanoseconds: 200_000_000)
            }

            let sick = await user.cloudc("doctor", "uni")
            #expect(sick.status == 1 && sick.stdout.contains("✗ lost-node compute002: the state has compute002 (\(id)), which the cloud no longer has"),
                    "\(sick.stdout) \(sick.stderr)")
            let fixed = await user.cloudc("doctor", "uni", "--fix")
            #expect(fixed.status == 0 && fixed.stdout.contains("fixed lost-node compute002"), "\(fixed.stdout) \(fixed.stderr)")
            #expect(await user.cloudc("doctor", "uni").status == 0)
            #expect(await user.cloudc("stop", "uni").status == 0)
            try await OpenStackClusterTests().expectNothingLeft(peer)
        }
    }
}

import CLITestSupport
import Foundation
import Testing
import TestSupport

/// `cloudc doctor` on GCE: a VM deleted in the Compute API behind cloudc's back is a lost node,
/// `--fix` forgets it, and the cluster is healthy again.
@Suite(.serialized, .needsPeer) struct GCEDoctorTests {
    @Test func aVMDeletedBehindCloudcsBackIsALostNodeThatFixForgets() async throws {
        try await GCEPeer.with { peer in
            let user = try GCEClusterTests.user(peer)
            #expect(await user.cloudc("start", "gce", "--no-setup").status == 0)
            #expect(await user.cloudc("doctor", "gce").status == 0)
            let nodes = try JSONSerialization.jsonObject(with: Data(await user.cloudc("list-nodes", "--json").stdout.utf8)) as? [[String: Any]] ?? []
            let id = try #require(nodes.first { $0["name"] as? String == "compute002" }?["instance_id"] as? String)
            let parts = id.split(separator: "/")
            let deleted = try await peer.compute("DELETE", "zones/\(parts[0])/instances/\(parts[1])", token: try await peer.accessToken())
            #expect(deleted.status == 200, "\(String(decoding: deleted.body, as: UTF8.self))")
            let deadline = Date().addingTimeInterval(30)
            while try await peer.state().instances.contains(where: { $0.name == String(parts[1]) }), Date() < deadline {
                try await Task.sleep(nanoseconds: 200_000_000)
            }

            let sick = await user.cloudc("doctor", "gce")
            #expect(sick.status == 1 && sick.stdout.contains("✗ lost-node compute002: the state has compute002 (\(id)), which the cloud no longer has"),
                    "\(sick.stdout) \(sick.stderr)")
            let fixed = await user.cloudc("doctor", "gce", "--fix")
            #expect(fixed.status == 0 && fixed.stdout.contains("fixed lost-node compute002"), "\(fixed.stdout) \(fixed.stderr)")
            #expect(await user.cloudc("doctor", "gce").status == 0)
            #expect(await user.cloudc("stop", "gce").status == 0)
            #expect(try await peer.state().instances.isEmpty)
        }
    }
}

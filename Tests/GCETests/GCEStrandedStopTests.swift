import CLITestSupport
import Foundation
import Testing
import TestSupport

/// `cloudc stop NAME` with no state file, on GCE: the instances found by their labels, the
/// firewall rules by their names (the rules outlive the instances), all deleted with `--force`.
@Suite(.serialized, .needsPeer) struct GCEStrandedStopTests {
    @Test func aClusterWithoutStateIsFoundByLabelsAndFirewallNamesAndStopped() async throws {
        try await GCEPeer.with { peer in
            let user = try GCEClusterTests.user(peer)
            #expect(await user.cloudc("start", "gce", "--no-setup").status == 0)
            let up = try await peer.state()
            #expect(up.instances.count == 4 && up.firewalls.filter { $0.name.hasPrefix("cloudc-gce-") }.count == 3, "\(up.firewalls.map(\.name))")
            for file in user.stateFiles() { try FileManager.default.removeItem(atPath: user.stateDirectory + "/" + file) }

            let asked = await user.cloudc("stop", "gce")
            #expect(asked.status == 2 && asked.stderr.contains("nothing was deleted"), "\(asked.stderr)")
            #expect(asked.stdout.split(separator: "\n").filter { $0.hasPrefix("  instance ") }.count == 4, "\(asked.stdout)")
            #expect(asked.stdout.split(separator: "\n").filter { $0.hasPrefix("  firewall cloudc-gce-") }.count == 3, "\(asked.stdout)")
            #expect(try await peer.state().instances.count == 4)

            let forced = await user.cloudc("stop", "gce", "--force")
            #expect(forced.status == 0, "\(forced.stderr)")
            let down = try await peer.state()
            #expect(down.instances.isEmpty && !down.firewalls.contains { $0.name.hasPrefix("cloudc-") && !$0.deleting } && down.disks.isEmpty, "\(down.firewalls.map(\.name))")
            #expect(user.stateFiles().isEmpty)
        }
    }

    /// The config's zones changed since the start: the instances are found in every zone of the
    /// project (the aggregated list), not only the zones the config names now.
    @Test func instancesInZonesTheConfigNoLongerNamesAreFoundAndDeleted() async throws {
        try await GCEPeer.with { peer in
            let user = try GCEClusterTests.user(peer)
            #expect(await user.cloudc("start", "gce", "--no-setup").status == 0)
            for file in user.stateFiles() { try FileManager.default.removeItem(atPath: user.stateDirectory + "/" + file) }
            try GCEClusterTests.config(peer, zones: ["europe-west1-b"]).write(toFile: user.home.path + "/.cloudc/config.yaml", atomically: true, encoding: .utf8)
            let forced = await user.cloudc("stop", "gce", "--force")
            #expect(forced.status == 0, "\(forced.stderr)")
            #expect(forced.stdout.split(separator: "\n").filter { $0.hasPrefix("  instance ") && $0.contains("us-central1-") }.count == 4, "\(forced.stdout)")
            #expect(try await peer.state().instances.isEmpty)
        }
    }
}

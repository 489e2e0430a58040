import CLITestSupport
import Foundation
import Testing
import TestSupport

/// `cloudc start gce` end to end against the local GCE peer, which checks every request body
/// against Google's compute.v1 discovery document and every JWT's RS256 signature.
@Suite(.serialized, .needsPeer) struct GCEClusterTests {
    static func config(_ peer: GCEPeer, credentials: String? = nil, zones: [String] = ["us-central1-a", "us-central1-b"]) -> String {
        """
        clouds:
          gce:
            provider: gce
            project: \(peer.project)
            zones: [\(zones.joined(separator: ", "))]
            \(credentials == "" ? "" : "credentials: \(credentials ?? peer.credentialsPath)")
            token_endpoint: \(peer.tokenEndpoint)
            endpoint: \(peer.computeEndpoint)
        logins:
          default:
            user: researcher
            private_key: $HOME/id_ed25519
        clusters:
          gce:
            cloud: gce
            image: projects/debian-cloud/global/images/family/debian-12
            ssh_from: 198.51.100.0/24
            groups:
              frontend: {count: 1, flavor: e2-standard-4}
              compute: {count: 2, flavor: n2-standard-8, disk_gb: 50}
              gpu:
                count: 1
                flavor: n1-standard-8
                gpus: {type: nvidia-tesla-t4, count: 1}
                spot: true
        """
    }

    static func user(_ peer: GCEPeer, credentials: String? = nil, zones: [String] = ["us-central1-a", "us-central1-b"]) throws -> UserMachine {
        try UserMachine(moto: nil, config: config(peer, credentials: credentials, zones: zones),
                        extraEnvironment: ["CLOUDC_POLL_SECONDS": "0.2"])
    }

    func cloudInstances(_ peer: GCEPeer) async throws -> [GCEPeerState.Instance] {
        try await peer.state().instances
    }

    @Test func cpuAndGPUGroupsRunWithAddressesAndStopLeavesNothing() async throws {
        try await GCEPeer.with { peer in
            let user = try Self.user(peer)
            let start = await user.cloudc("start", "gce", "--no-setup")
            #expect(start.status == 0, "\(start.stderr)")

            let instances = try await cloudInstances(peer)
            #expect(instances.count == 4)
            #expect(instances.allSatisfy { $0.status == "RUNNING" && !$0.networkIP.isEmpty })
            // An external IP and the SSH tag for the frontend only, in the peer's own state.
            #expect(instances.allSatisfy { ($0.natIP != nil) == ($0.labels["cloudc-group"] == "frontend") }, "\(instances)")
            #expect(instances.allSatisfy { $0.tags.contains { $0.hasSuffix("-ssh") } == ($0.labels["cloudc-group"] == "frontend") })
            #expect(Set(instances.compactMap { $0.labels["cloudc-node"] }) == ["frontend001", "compute001", "compute002", "gpu001"])
            let gpu = try #require(instances.first { $0.labels["cloudc-node"] == "gpu001" })
            #expect(gpu.guestAccelerators.first?.acceleratorCount == 1)
            #expect(gpu.guestAccelerators.first?.acceleratorType.hasSuffix("nvidia-tesla-t4") == true, "\(gpu.guestAccelerators)")
            #expect(gpu.onHostMaintenance == "TERMINATE")
            #expect(gpu.provisioningModel == "SPOT")
            #expect(instances.allSatisfy { $0.metadataKeys.contains("ssh-keys") })
            let firewalls = try await peer.state().firewalls
            #expect(firewalls.contains { $0.sourceRanges == ["198.51.100.0/24"] })

            let nodes = await user.cloudc("list-nodes", "--json")
            let rows = try JSONSerialization.jsonObject(with: Data(nodes.stdout.utf8)) as? [[String: Any]] ?? []
            #expect(rows.count == 4)
            // Each node's addresses are the ones the peer gave its instance.
            for row in rows {
                let node = row["name"] as? String ?? "?"
                let instance = try #require(instances.first { $0.labels["cloudc-node"] == node }, "\(node) has no instance")
                #expect(row["state"] as? String == "running")
                #expect(row["private_ip"] as? String == instance.networkIP, "\(node): \(row)")
                #expect(row["public_ip"] as? String == instance.natIP, "\(node): \(row)")
            }

            let stop = await user.cloudc("stop")
            #expect(stop.status == 0, "\(stop.stderr)")
            let after = try await peer.state()
            #expect(after.instances.isEmpty, "left: \(after.instances.map(\.name))")
            #expect(after.firewalls.filter { !$0.deleting && !$0.name.hasPrefix("default-") }.isEmpty, "left: \(after.firewalls.map(\.name))")
            #expect(after.disks.isEmpty, "disks left: \(after.disks.map(\.name))")
            #expect(user.stateFiles().isEmpty)
        }
    }

    @Test func aWrongKeyIsRefusedClearlyAndNothingIsCreated() async throws {
        try await GCEPeer.with { peer in
            let user = try Self.user(peer, credentials: peer.wrongKeyCredentialsPath)
            let start = await user.cloudc("start", "gce", "--no-setup")
            #expect(start.status == 1)
            #expect(start.stderr.contains("invalid_grant") || start.stderr.contains("Invalid JWT Signature"), "\(start.stderr)")
            #expect(start.stderr.contains("fix:"))
            #expect(!start.stderr.contains("PRIVATE KEY"))
            #expect(try await peer.state().instances.isEmpty)
            #expect(user.stateFiles().isEmpty)
        }
    }

    @Test func aZoneOutOfCapacityFailsOverToTheNextZone() async throws {
        try await GCEPeer.with { peer in
            try await peer.inject(.capacity(zone: "us-central1-a", machineType: "n2-standard-8"))
            let user = try Self.user(peer)
            let start = await user.cloudc("start", "gce", "--no-setup")
            #expect(start.status == 0, "\(start.stderr)")
            #expect(start.stderr.contains("us-central1-a") && start.stderr.contains("us-central1-b"), "\(start.stderr)")
            let instances = try await cloudInstances(peer)
            let compute = instances.filter { $0.labels["cloudc-group"] == "compute" }
            #expect(compute.count == 2)
            #expect(compute.allSatisfy { $0.zone.hasSuffix("us-central1-b") })
            #expect(instances.filter { $0.labels["cloudc-group"] == "frontend" }.allSatisfy { $0.zone.hasSuffix("us-central1-a") })
            #expect(await user.cloudc("stop").status == 0)
            #expect(try await peer.state().instances.isEmpty)
        }
    }

    @Test func aKilledStartRunAgainMakesNoSecondVM() async throws {
        try await GCEPeer.with { peer in
            let user = try Self.user(peer)
            // Slow the cloud down so the kill lands while inserts are in flight.
            try await peer.settings(stepSeconds: 1.0)
            // Three firewall rules come first, each a slow operation: on a loaded machine the first
            // insert takes more than 10 s to come. The kill still lands on the first one seen.
            let seen = try await user.runCloudcKilled(["start", "gce", "--no-setup"], seconds: 40) {
                try await peer.state().instances.count >= 1
            }
            #expect(seen, "no insert reached the cloud before the kill")

            try await peer.settings(stepSeconds: 0.3)
            let again = await user.cloudc("start", "gce", "--no-setup")
            #expect(again.status == 0, "\(again.stderr)")
            let instances = try await cloudInstances(peer)
            let perNode = Dictionary(grouping: instances, by: { $0.labels["cloudc-node"] ?? "?" })
            #expect(perNode.count == 4)
            #expect(perNode.values.allSatisfy { $0.count == 1 }, "\(perNode.mapValues { $0.map(\.name) })")
            let stop = await user.cloudc("stop")
            #expect(stop.status == 0, "\(stop.stderr)")
            #expect(try await peer.state().instances.isEmpty)
        }
    }

    @Test func rateLimitsServerErrorsAndLostAnswersAreRetriedWithoutASecondVM() async throws {
        try await GCEPeer.with { peer in
            let inserts = peer.computePath("zones/us-central1-a/instances")
            let user = try Self.user(peer)
            func expectOneVMPerNode(_ state: GCEPeerState) {
                let perNode = Dictionary(grouping: state.instances, by: { $0.labels["cloudc-node"] ?? "?" })
                #expect(perNode.count == 4 && perNode.values.allSatisfy { $0.count == 1 }, "\(perNode.mapValues { $0.map(\.name) })")
            }

            try await peer.inject(.httpError(status: 429, count: 2, pathPrefix: inserts, method: "POST"))
            try await peer.inject(.httpError(status: 503, count: 2, pathPrefix: inserts, method: "POST"))
            let start = await user.cloudc("start", "gce", "--no-setup")
            #expect(start.status == 0, "\(start.stderr)")
            expectOneVMPerNode(try await peer.state())
            #expect(await user.cloudc("stop").status == 0)

            // An insert carried out whose answer is lost: the retry carries the same requestId.
            try await peer.inject(.dropResponse(count: 1, pathPrefix: inserts, method: "POST"))
            let again = await user.cloudc("start", "gce", "--no-setup")
            #expect(again.status == 0, "\(again.stderr)")
            let state = try await peer.state()
            expectOneVMPerNode(state)
            #expect(state.requestIDs.values.contains { $0.method == "compute.instances.insert" && $0.requests > 1 },
                    "no insert was retried with its requestId")
            #expect(await user.cloudc("stop").status == 0)
            #expect(try await peer.state().instances.isEmpty)
        }
    }

    @Test func gcloudApplicationDefaultCredentialsWorkWithoutAKeyFile() async throws {
        try await GCEPeer.with { peer in
            let user = try Self.user(peer, credentials: "")
            let adc = user.home.path + "/.config/gcloud/application_default_credentials.json"
            try FileManager.default.createDirectory(atPath: (adc as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: peer.authorizedUserPath, toPath: adc)
            let start = await user.cloudc("start", "gce", "--no-setup")
            #expect(start.status == 0, "\(start.stderr)")
            #expect(try await peer.state().instances.count == 4)
            #expect(await user.cloudc("stop").status == 0)
        }
    }
}

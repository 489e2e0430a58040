import CloudcCore
import Foundation
@testable import Providers
import Testing

/// The GCE provider against Compute Engine in memory: validation, request bodies,
/// idempotent launches, zone fallback, firewalls, listing and termination.
@Suite struct GCEProviderTests {
    static let incarnation = "1a2b3c4d5e6f"
    static let publicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBx7 me@laptop"

    final class Lines: ProgressSink, @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func report(_ line: String) { lock.withLock { lines.append(line) } }
        var all: [String] { lock.withLock { lines } }
    }

    func provider(_ compute: FakeCompute, zones: [String] = ["us-central1-a"], progress: ProgressSink = SilentProgress(),
                  network: String? = nil, subnetwork: String? = nil) throws -> GCEProvider {
        let client = GCEClient(baseURL: try #require(GCEClient.baseURL(endpoint: "http://127.0.0.1:1")), project: compute.project,
                               auth: StaticToken(), transport: compute.transport,
                               retry: RetryPolicy(maxAttempts: 2, baseDelay: 0.001, maxDelay: 0.002), operationPause: 0)
        return GCEProvider(client: client, settings: GCESettings(project: compute.project, zones: zones, network: network, subnetwork: subnetwork),
                           credentialsSource: "test key", progress: progress)
    }

    static let access = AccessRequest(cluster: "demo", incarnation: incarnation, sshFrom: "203.0.113.7/32",
                                      publicKey: publicKey, loginUser: "debian")

    func launch(_ group: NodeGroupSpec, nodes: [String], token: String = "cloudc-1a2b3c4d5e6f-gpu-00000000000000aa",
                image: String = "projects/debian-cloud/global/images/family/debian-12",
                frontend: Bool = true, publicAddress: Bool = true) -> LaunchRequest {
        LaunchRequest(cluster: "demo", incarnation: Self.incarnation, group: group, nodes: nodes, token: token, image: image,
                      access: Self.access, resources: [], frontend: frontend, publicAddress: publicAddress)
    }

    func spec(_ groups: [NodeGroupSpec], image: String = "projects/debian-cloud/global/images/family/debian-12",
              zones: [String] = ["us-central1-a"]) -> ClusterSpec {
        ClusterSpec(template: "gce", cloud: CloudSpec(name: "gce", provider: .gce, settings: .gce(GCESettings(zones: zones))),
                    login: LoginSpec(name: "default", user: "debian", privateKey: "k", publicKey: "k.pub"),
                    image: image, groups: groups)
    }

    // MARK: request bodies

    /// Every node but the frontend: no external IP (no access config), no SSH from outside.
    @Test func aNodeBehindTheFrontendHasNoExternalAddressNorTheSSHTag() async throws {
        let compute = FakeCompute()
        let group = NodeGroupSpec(name: "compute", count: 1, flavor: "n2-standard-8")
        _ = try await provider(compute).launch(launch(group, nodes: ["compute001"], token: "cloudc-1a2b3c4d5e6f-compute-00000000000000aa",
                                                      frontend: false, publicAddress: false))
        let body = try #require(compute.inserts.first?.json)
        #expect(body["networkInterfaces"] == [["network": "projects/proj-1/global/networks/default"]])
        #expect(body["tags"] == ["items": ["cloudc-demo-1a2b3c4d5e6f"]])

        // A group with public_ip: true gets its external IP, still without SSH from outside.
        let fetch = FakeCompute()
        _ = try await provider(fetch).launch(launch(group, nodes: ["compute001"], token: "cloudc-1a2b3c4d5e6f-compute-00000000000000aa",
                                                    frontend: false, publicAddress: true))
        let fetchBody = try #require(fetch.inserts.first?.json)
        #expect(fetchBody["networkInterfaces"]?[0]?["accessConfigs"] == [["type": "ONE_TO_ONE_NAT", "name": "External NAT"]])
        #expect(fetchBody["tags"] == ["items": ["cloudc-demo-1a2b3c4d5e6f"]])
    }

    @Test func cpuNodeBody() async throws {
        let compute = FakeCompute()
        let group = NodeGroupSpec(name: "compute", count: 1, flavor: "n2-standard-8", diskGB: 50)
        let instances = try await provider(compute).launch(launch(group, nodes: ["compute001"], token: "cloudc-1a2b3c4d5e6f-compute-00000000000000aa"))
        let body = try #require(compute.inserts.first?.json)
        let zone = "projects/proj-1/zones/us-central1-a"
        #expect(body == [
            "name": "demo-compute001-1a2b3c4d",
            "machineType": .string("\(zone)/machineTypes/n2-standard-8"),
            "labels": ["cloudc-cluster": "demo", "cloudc-node": "compute001", "cloudc-group": "compute",
                       "cloudc-incarnation": "1a2b3c4d5e6f", "cloudc-launch": "cloudc-1a2b3c4d5e6f-compute-00000000000000aa"],
            // The frontend's node: SSH from ssh_from reaches the nodes with the -ssh tag.
            "tags": ["items": ["cloudc-demo-1a2b3c4d5e6f", "cloudc-demo-1a2b3c4d5e6f-ssh"]],
            "disks": [["boot": true, "autoDelete": true, "type": "PERSISTENT", "initializeParams": [
                "sourceImage": "projects/debian-cloud/global/images/debian-12-bookworm-v20240910",
                "diskSizeGb": "50",
                "diskType": .string("\(zone)/diskTypes/pd-balanced"),
                "labels": ["cloudc-cluster": "demo", "cloudc-node": "compute001", "cloudc-group": "compute",
                           "cloudc-incarnation": "1a2b3c4d5e6f", "cloudc-launch": "cloudc-1a2b3c4d5e6f-compute-00000000000000aa"],
            ]]],
            "networkInterfaces": [["network": "projects/proj-1/global/networks/default",
                                   "accessConfigs": [["type": "ONE_TO_ONE_NAT", "name": "External NAT"]]]],
            "metadata": ["items": [["key": "ssh-keys", "value": .string("debian:\(Self.publicKey)")],
                                   ["key": "block-project-ssh-keys", "value": "true"],
                                   ["key": "enable-oslogin", "value": "FALSE"],
                                   ["key": "enable-guest-attributes", "value": "TRUE"]]],
        ])
        #expect(instances == [CloudInstance(
            id: "us-central1-a/demo-compute001-1a2b3c4d", node: "compute001", group: "compute",
            launchToken: "cloudc-1a2b3c4d5e6f-compute-00000000000000aa", incarnation: Self.incarnation, state: .running,
            privateIP: "10.128.0.2", publicIP: "34.1.2.2", flavor: "n2-standard-8", zone: "us-central1-a")])
    }

    @Test func n1WithGPUsAttachesThemAndStopsForMaintenance() async throws {
        let compute = FakeCompute()
        let group = NodeGroupSpec(name: "gpu", count: 1, flavor: "n1-standard-8", gpus: GPURequest(type: "nvidia-tesla-t4", count: 2))
        _ = try await provider(compute).launch(launch(group, nodes: ["gpu001"]))
        let body = try #require(compute.inserts.first?.json)
        #expect(body["guestAccelerators"] == [["acceleratorType": "projects/proj-1/zones/us-central1-a/acceleratorTypes/nvidia-tesla-t4",
                                               "acceleratorCount": 2]])
        #expect(body["scheduling"] == ["onHostMaintenance": "TERMINATE", "automaticRestart": true])
    }

    @Test func acceleratorOptimizedTypesBringTheirOwnGPUs() async throws {
        let compute = FakeCompute()
        let group = NodeGroupSpec(name: "gpu", count: 1, flavor: "a2-highgpu-1g", gpus: GPURequest(type: "nvidia-tesla-a100", count: 1))
        _ = try await provider(compute).launch(launch(group, nodes: ["gpu001"]))
        let body = try #require(compute.inserts.first?.json)
        #expect(body["guestAccelerators"] == nil)
        #expect(body["scheduling"] == ["onHostMaintenance": "TERMINATE", "automaticRestart": true])
        #expect(body["machineType"]?.string == "projects/proj-1/zones/us-central1-a/machineTypes/a2-highgpu-1g")
    }

    @Test func spotNodesAreDeletedWhenPreempted() async throws {
        let compute = FakeCompute()
        let group = NodeGroupSpec(name: "gpu", count: 1, flavor: "n1-standard-8", gpus: GPURequest(type: "nvidia-tesla-t4", count: 1), spot: true)
        _ = try await provider(compute).launch(launch(group, nodes: ["gpu001"]))
        let body = try #require(compute.inserts.first?.json)
        #expect(body["scheduling"] == ["provisioningModel": "SPOT", "instanceTerminationAction": "DELETE",
                                       "onHostMaintenance": "TERMINATE", "automaticRestart": false])
        #expect(body["guestAccelerators"]?[0]?["acceleratorCount"] == 1)
    }

    @Test func namedNetworkAndSubnetworkBecomePaths() async throws {
        let compute = FakeCompute()
        let group = NodeGroupSpec(name: "compute", count: 1, flavor: "e2-standard-4")
        _ = try await provider(compute, network: "research", subnetwork: "nodes").launch(launch(group, nodes: ["compute001"]))
        let interface = try #require(compute.inserts.first?.json?["networkInterfaces"]?[0])
        #expect(interface["network"] == "projects/proj-1/global/networks/research")
        #expect(interface["subnetwork"] == "projects/proj-1/regions/us-central1/subnetworks/nodes")
    }

    // MARK: idempotence

    @Test func aRepeatedLaunchMakesNoSecondVM() async throws {
        let compute = FakeCompute()
        let group = NodeGroupSpec(name: "compute", count: 2, flavor: "e2-standard-4")
        let request = launch(group, nodes: ["compute001", "compute002"])
        let first = try await provider(compute).launch(request)
        let second = try await provider(compute).launch(request)
        #expect(first == second)
        #expect(compute.instanceNames == ["us-central1-a/demo-compute001-1a2b3c4d", "us-central1-a/demo-compute002-1a2b3c4d"])
        let ids = compute.inserts.compactMap { $0.query("requestId") }
        #expect(ids.count == 4)
        #expect(Set(ids).count == 2, "the same requestId for the same node on a repeat, another per node")
        for id in ids { #expect(UUID(uuidString: id) != nil, "\(id) is a UUID") }
    }

    @Test func requestIDsAreStableAndDistinctPerNodeZoneAndToken() {
        let base = GCENames.insertRequestID(incarnation: "inc1", token: "t", node: "gpu001", zone: "us-central1-a")
        #expect(base == GCENames.insertRequestID(incarnation: "inc1", token: "t", node: "gpu001", zone: "us-central1-a"))
        let others = [
            GCENames.insertRequestID(incarnation: "inc1", token: "t", node: "gpu002", zone: "us-central1-a"),
            GCENames.insertRequestID(incarnation: "inc1", token: "t", node: "gpu001", zone: "us-central1-b"),
            GCENames.insertRequestID(incarnation: "inc2", token: "t", node: "gpu001", zone: "us-central1-a"),
            GCENames.insertRequestID(incarnation: "inc1", token: "t2", node: "gpu001", zone: "us-central1-a"),
            GCENames.insertRequestID(incarnation: "inc1", token: "t", node: "gpu001", zone: "us-central1-a", attempt: 1),
        ]
        #expect(Set(others + [base]).count == 6)
        let uuid = UUID(uuidString: base)
        #expect(uuid != nil)
        #expect(base == base.lowercased())
        #expect(Array(base)[14] == "5", "version 5 layout")
    }

    @Test func anInstanceLeftByAnEarlierTryIsFoundNotDuplicated() async throws {
        let compute = FakeCompute()
        let group = NodeGroupSpec(name: "compute", count: 1, flavor: "e2-standard-4")
        _ = try await provider(compute).launch(launch(group, nodes: ["compute001"], token: "token-a"))
        // Another token (a new launch of the same node) meets the existing name: 409, adopted.
        let again = try await provider(compute).launch(launch(group, nodes: ["compute001"], token: "token-b"))
        #expect(again.map(\.id) == ["us-central1-a/demo-compute001-1a2b3c4d"])
        #expect(compute.instanceNames.count == 1)
    }

    // MARK: capacity

    @Test func aZoneOutOfCapacityFallsBackToTheNext() async throws {
        let compute = FakeCompute()
        compute.update { $0.exhausted = ["us-central1-a"] }
        let lines = Lines()
        let group = NodeGroupSpec(name: "gpu", count: 2, flavor: "n1-standard-8", gpus: GPURequest(type: "nvidia-tesla-t4", count: 1))
        let provider = try provider(compute, zones: ["us-central1-a", "us-central1-b"], progress: lines)
        let instances = try await provider.launch(launch(group, nodes: ["gpu001", "gpu002"]))
        #expect(instances.map(\.id) == ["us-central1-b/demo-gpu001-1a2b3c4d", "us-central1-b/demo-gpu002-1a2b3c4d"])
        #expect(instances.allSatisfy { $0.zone == "us-central1-b" })
        #expect(lines.all == ["zone us-central1-a is out of capacity for 2 gpu node(s) (n1-standard-8, 1× nvidia-tesla-t4); trying zone us-central1-b"])
        let inserts = compute.inserts
        #expect(inserts.count == 4)
        let zoneB = inserts.filter { $0.computePath.contains("/zones/us-central1-b/") }
        #expect(zoneB.count == 2)
        // The accelerator stays in the zone it is attached in.
        #expect(zoneB.first?.json?["guestAccelerators"]?[0]?["acceleratorType"]?.string?.contains("/zones/us-central1-b/") == true)
        let zoneAIDs = Set(inserts.filter { $0.computePath.contains("/zones/us-central1-a/") }.compactMap { $0.query("requestId") })
        #expect(zoneAIDs.isDisjoint(with: zoneB.compactMap { $0.query("requestId") }), "a new requestId in the new zone")
    }

    @Test func everyZoneOutOfCapacityIsACapacityErrorNamingThem() async throws {
        let compute = FakeCompute()
        compute.update { $0.exhausted = ["us-central1-a", "us-central1-b"] }
        let group = NodeGroupSpec(name: "gpu", count: 1, flavor: "n1-standard-8", gpus: GPURequest(type: "nvidia-tesla-t4", count: 1))
        let error = await #expect(throws: CloudcError.self) {
            try await provider(compute, zones: ["us-central1-a", "us-central1-b"]).launch(launch(group, nodes: ["gpu001"]))
        }
        #expect(error?.code == .capacity)
        #expect(error?.message.contains("tried us-central1-a, us-central1-b") == true)
        #expect(error?.message.contains("ZONE_RESOURCE_POOL_EXHAUSTED") == true)
    }

    @Test func aRerunAfterAFailedLaunchTriesAgainInsteadOfReplayingTheOldFailure() async throws {
        let compute = FakeCompute()
        compute.update { $0.exhausted = ["us-central1-a"] }
        let group = NodeGroupSpec(name: "gpu", count: 1, flavor: "n1-standard-8", gpus: GPURequest(type: "nvidia-tesla-t4", count: 1))
        let request = launch(group, nodes: ["gpu001"])
        await #expect(throws: CloudcError.self) { try await provider(compute).launch(request) }
        compute.update { $0.exhausted = [] }   // capacity is back; the same requestId still names the failed try
        let instances = try await provider(compute).launch(request)
        #expect(instances.map(\.id) == ["us-central1-a/demo-gpu001-1a2b3c4d"])
        let ids = compute.inserts.compactMap { $0.query("requestId") }
        #expect(ids.count == 3)
        #expect(ids[0] == ids[1], "the resumed launch first repeats its requestId")
        #expect(ids[2] != ids[0], "and, seeing the old failure, tries under a new one")
    }

    // MARK: validation

    @Test func validationAcceptsCPUN1GPUAndAcceleratorOptimizedGroups() async throws {
        let compute = FakeCompute()
        try await provider(compute).validate(spec([
            NodeGroupSpec(name: "frontend", count: 1, flavor: "e2-standard-4"),
            NodeGroupSpec(name: "gpu", count: 1, flavor: "n1-standard-8", gpus: GPURequest(type: "nvidia-tesla-t4", count: 1), diskGB: 100),
            NodeGroupSpec(name: "big", count: 1, flavor: "a2-highgpu-1g", gpus: GPURequest(count: 1)),
        ]))
        let paths = compute.transport.requests.map(\.computePath)
        #expect(paths.contains("projects/proj-1/zones/us-central1-a/acceleratorTypes/nvidia-tesla-t4"))
        #expect(paths.contains("projects/debian-cloud/global/images/family/debian-12"))
        #expect(compute.instanceNames.isEmpty && compute.firewalls.isEmpty, "nothing is created")
    }

    @Test(arguments: [
        (NodeGroupSpec(name: "gpu", count: 1, flavor: "n9-huge"), "machine type n9-huge (group gpu) does not exist in zone us-central1-a", "gcloud compute machine-types list"),
        (NodeGroupSpec(name: "gpu", count: 1, flavor: "e2-standard-4", gpus: GPURequest(type: "nvidia-tesla-t4", count: 1)), "cannot have GPUs attached", "n1-standard-8"),
        (NodeGroupSpec(name: "gpu", count: 1, flavor: "n1-standard-8", gpus: GPURequest(type: "nvidia-h100-80gb", count: 1)), "GPU type nvidia-h100-80gb of group 'gpu' is not offered in zone us-central1-a", "accelerator-types list"),
        (NodeGroupSpec(name: "gpu", count: 1, flavor: "n1-standard-8", gpus: GPURequest(count: 1)), "without naming their type", "nvidia-tesla-t4"),
        (NodeGroupSpec(name: "gpu", count: 1, flavor: "n1-standard-8", gpus: GPURequest(type: "nvidia-tesla-t4", count: 8)), "at most 4", "gpus.count"),
        (NodeGroupSpec(name: "gpu", count: 1, flavor: "a2-highgpu-1g", gpus: GPURequest(type: "nvidia-tesla-a100", count: 2)), "comes with 1 nvidia-tesla-a100", "larger machine type"),
        (NodeGroupSpec(name: "gpu", count: 1, flavor: "a2-highgpu-1g", gpus: GPURequest(type: "nvidia-tesla-t4", count: 1)), "comes with 1 nvidia-tesla-a100", "leave gpus out"),
        (NodeGroupSpec(name: "gpu", count: 1, flavor: "e2-standard-4", diskGB: 5), "needs at least 10 GB", "disk_gb: 10"),
    ])
    func validationSaysWhatIsWrongAndHowToFixIt(group: NodeGroupSpec, problem: String, hint: String) async throws {
        let compute = FakeCompute()
        let error = await #expect(throws: CloudcError.self) { try await provider(compute).validate(spec([group])) }
        #expect(error?.message.contains(problem) == true, "\(error?.message ?? "")")
        #expect(error?.fix?.contains(hint) == true, "\(error?.fix ?? "")")
    }

    @Test func validationRejectsUnknownZonesAndImages() async throws {
        let compute = FakeCompute()
        let zoneError = await #expect(throws: CloudcError.self) {
            try await provider(compute, zones: ["us-central1-a", "mars-north1-a"]).validate(spec([NodeGroupSpec(name: "c", count: 1, flavor: "e2-standard-4")]))
        }
        #expect(zoneError?.message.contains("zone mars-north1-a does not exist") == true)
        let imageError = await #expect(throws: CloudcError.self) {
            try await provider(compute).validate(spec([NodeGroupSpec(name: "c", count: 1, flavor: "e2-standard-4")],
                                                      image: "projects/debian-cloud/global/images/family/debian-99"))
        }
        #expect(imageError?.message.contains("image projects/debian-cloud/global/images/family/debian-99 does not exist") == true)
        let malformed = await #expect(throws: CloudcError.self) {
            try await provider(compute).validate(spec([NodeGroupSpec(name: "c", count: 1, flavor: "e2-standard-4")], image: "ami-123/x"))
        }
        #expect(malformed?.fix?.contains("projects/debian-cloud/global/images/family/debian-12") == true)
    }

    // MARK: firewalls

    @Test func firewallsAllowSSHFromTheCallerToTheFrontendAndEverythingBetweenNodes() async throws {
        let compute = FakeCompute()
        let provider = try provider(compute)
        let planned = provider.plannedResources(for: Self.access)
        #expect(planned.map(\.name) == ["cloudc-demo-1a2b3c4d5e6f", "cloudc-demo-1a2b3c4d5e6f-internal", "cloudc-demo-1a2b3c4d5e6f-deny"])
        #expect(planned.allSatisfy { $0.kind == .firewall })
        for resource in planned {
            let created = try await provider.create(resource, for: Self.access)
            #expect(created.status == .created)
            #expect(created.id != nil)
            #expect(try await provider.exists(created))
        }
        let ssh = try #require(compute.firewalls["cloudc-demo-1a2b3c4d5e6f"])
        #expect(ssh["sourceRanges"] == ["203.0.113.7/32"])
        #expect(ssh["targetTags"] == ["cloudc-demo-1a2b3c4d5e6f-ssh"], "the frontend only")
        #expect(ssh["allowed"] == [["IPProtocol": "tcp", "ports": ["22"]]])
        #expect(ssh["network"] == "projects/proj-1/global/networks/default")
        let between = try #require(compute.firewalls["cloudc-demo-1a2b3c4d5e6f-internal"])
        #expect(between["sourceTags"] == ["cloudc-demo-1a2b3c4d5e6f"])
        #expect(between["targetTags"] == ["cloudc-demo-1a2b3c4d5e6f"])
        #expect(between["allowed"] == [["IPProtocol": "all"]])
        #expect(between["sourceRanges"] == nil)
        // Everything else is denied just below cloudc's allow rules, above any rule of the network's own.
        let deny = try #require(compute.firewalls["cloudc-demo-1a2b3c4d5e6f-deny"])
        #expect(deny["denied"] == [["IPProtocol": "all"]] && deny["sourceRanges"] == ["0.0.0.0/0"])
        #expect(deny["targetTags"] == ["cloudc-demo-1a2b3c4d5e6f"] && deny["allowed"] == nil)
        #expect(deny["priority"] == 1001 && ssh["priority"] == 1000 && between["priority"] == 1000)

        // Again: an existing rule counts as created.
        let again = try await provider.create(planned[0], for: Self.access)
        #expect(again.status == .created)
        for resource in planned {
            try await provider.delete(resource)
            try await provider.delete(resource)   // already gone: fine
            #expect(try await provider.exists(resource) == false)
        }
    }

    // MARK: finding and deleting

    @Test func instancesAreFoundByLabelInEveryZone() async throws {
        let compute = FakeCompute()
        let provider = try provider(compute, zones: ["us-central1-a", "us-central1-b"])
        let group = NodeGroupSpec(name: "compute", count: 1, flavor: "e2-standard-4")
        _ = try await provider.launch(launch(group, nodes: ["compute001"]))
        compute.update { $0.exhausted = ["us-central1-a"] }
        _ = try await provider.launch(launch(group, nodes: ["compute002"]))
        let other = LaunchRequest(cluster: "other", incarnation: "ffffffffffff", group: group, nodes: ["compute001"], token: "t",
                                  image: "projects/debian-cloud/global/images/family/debian-12", access: Self.access, resources: [])
        compute.update { $0.exhausted = [] }
        _ = try await provider.launch(other)

        let found = try await provider.instances(cluster: "demo", incarnation: Self.incarnation)
        #expect(found.map(\.id) == ["us-central1-a/demo-compute001-1a2b3c4d", "us-central1-b/demo-compute002-1a2b3c4d"])
        #expect(found.map(\.node) == ["compute001", "compute002"])
        #expect(found.allSatisfy { $0.state == .running && $0.group == "compute" && $0.incarnation == Self.incarnation })
        let filters = Set(compute.transport.requests.filter { $0.method == "GET" && $0.computePath.hasSuffix("/instances") }.compactMap { $0.query("filter") })
        #expect(filters.contains("(labels.cloudc-cluster = \"demo\") (labels.cloudc-incarnation = \"1a2b3c4d5e6f\")"))
        #expect(try await provider.instances(cluster: "demo", incarnation: nil).count == 2)

        try await provider.terminate(found.map(\.id) + ["us-central1-a/already-gone"])
        let deletes = compute.transport.requests.filter { $0.method == "DELETE" }.map(\.computePath).sorted()
        #expect(deletes == ["projects/proj-1/zones/us-central1-a/instances/already-gone",
                            "projects/proj-1/zones/us-central1-a/instances/demo-compute001-1a2b3c4d",
                            "projects/proj-1/zones/us-central1-b/instances/demo-compute002-1a2b3c4d"])
        #expect(try await provider.instances(cluster: "demo", incarnation: Self.incarnation).isEmpty)
        #expect(compute.instanceNames == ["us-central1-a/other-compute001-ffffffff"])
    }

    @Test func assignSetsTheNodeLabelWithTheFingerprint() async throws {
        let compute = FakeCompute()
        let provider = try provider(compute)
        let group = NodeGroupSpec(name: "compute", count: 1, flavor: "e2-standard-4")
        let launched = try await provider.launch(launch(group, nodes: ["compute001"]))
        try await provider.assign(node: "compute007", cluster: "demo", instanceID: try #require(launched.first?.id))
        let setLabels = try #require(compute.transport.requests.first { $0.computePath.hasSuffix("/setLabels") })
        #expect(setLabels.json?["labelFingerprint"] == "fp-0")
        #expect(setLabels.json?["labels"]?["cloudc-node"] == "compute007")
        #expect(setLabels.json?["labels"]?["cloudc-cluster"] == "demo", "other labels are kept")
        #expect(try await provider.instances(cluster: "demo", incarnation: nil).first?.node == "compute007")
    }

    @Test(arguments: [("PROVISIONING", InstanceState.pending), ("STAGING", .pending), ("RUNNING", .running),
                      ("STOPPING", .stopping), ("SUSPENDING", .stopping), ("SUSPENDED", .stopped), ("TERMINATED", .stopped),
                      ("REPAIRING", .pending), ("WHATEVER", .unknown)])
    func statesMap(status: String, state: InstanceState) {
        #expect(GCEProvider.state(status) == state)
    }

    @Test func badInstanceIDsAreRejectedClearly() async throws {
        let error = await #expect(throws: CloudcError.self) { try await provider(FakeCompute()).terminate(["i-0123456789"]) }
        #expect(error?.message.contains("zone/name") == true)
    }

    // MARK: names

    @Test func namesFitGooglesRules() {
        let cluster = String(repeating: "a", count: 40)
        let names = [
            GCENames.instanceName(cluster: cluster, node: "averyveryverylonggrp123", incarnation: "1a2b3c4d5e6f"),
            GCENames.internalFirewall(cluster: cluster, incarnation: "1a2b3c4d5e6f"),
            GCENames.clusterTag(cluster: cluster, incarnation: "1a2b3c4d5e6f"),
        ]
        for name in names {
            #expect(name.count <= 63, "\(name)")
            #expect(name.range(of: "^[a-z]([-a-z0-9]*[a-z0-9])?$", options: .regularExpression) != nil, "\(name)")
        }
        #expect(names[0].hasSuffix("-averyveryverylonggrp123-1a2b3c4d"))
        #expect(names[1].hasSuffix("-internal"))
        #expect(GCENames.instanceName(cluster: cluster + "b", node: "n1", incarnation: "x") != GCENames.instanceName(cluster: cluster + "c", node: "n1", incarnation: "x"))
        #expect(GCENames.labelValue("Foo.Bar") == "foo_bar")
        #expect(GCENames.labelValue(String(repeating: "x", count: 80)).count == 63)
    }
}

extension GCEProviderTests {
    @Test func deletingAnInstanceStillBeingCreatedWaitsUntilGoogleAllowsIt() async throws {
        let compute = FakeCompute()
        let provider = try provider(compute)
        let group = NodeGroupSpec(name: "compute", count: 1, flavor: "n2-standard-8")
        let launched = try await provider.launch(launch(group, nodes: ["compute001"]))
        compute.update { $0.busyDeletes = 2 }
        try await provider.terminate(launched.map(\.id))
        let deletes = compute.transport.requests.filter { $0.method == "DELETE" }
        #expect(deletes.count == 3, "two refusals, then the delete")
        #expect(compute.instanceNames.isEmpty)
    }
}

import CloudcCore
import Foundation
@testable import Providers
import Testing

/// A fixed token and catalog, in place of Keystone.
struct FixedOpenStackAuth: OpenStackServiceAuth {
    var token = "gAAAAAB-fixed-token"
    func currentToken() async throws -> Secret { Secret(token) }
    func forgetToken() async {}
    func serviceURL(_ type: OpenStackService) async throws -> URL {
        switch type {
        case .compute: URL(string: "http://cloud.test/compute/v2.1/")!
        case .network: URL(string: "http://cloud.test/network/")!
        case .image: URL(string: "http://cloud.test/image/")!
        }
    }
}

func openStackProvider(_ transport: RoutedTransport, settings: OpenStackSettings = OpenStackSettings(network: "private"),
                       progress: any ProgressSink = SilentProgress()) -> OpenStackProvider {
    let client = OpenStackClient(auth: FixedOpenStackAuth(), transport: transport, retry: RetryPolicy(maxAttempts: 3, baseDelay: 0.001, maxDelay: 0.001))
    return OpenStackProvider(client: client, settings: settings, cloudName: "uni", credentialsSource: "clouds.yaml cloud 'uni'",
                             progress: progress, poller: Poller(initialDelay: 0.01, maxDelay: 0.02, timeout: 5))
}

func launchRequest(group: NodeGroupSpec, nodes: [String]) -> LaunchRequest {
    let access = AccessRequest(cluster: "demo", incarnation: "1a2b3c4d", sshFrom: "192.0.2.0/24",
                               publicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey demo", loginUser: "debian")
    return LaunchRequest(cluster: "demo", incarnation: "1a2b3c4d", group: group, nodes: nodes, token: "t-1", image: "debian-12",
                         access: access, resources: [ResourceRecord(kind: .keyPair, name: "cloudc-demo-1a2b3c4d", status: .created),
                                                     ResourceRecord(kind: .securityGroup, name: "cloudc-demo-1a2b3c4d", id: "sg-1", status: .created)])
}

@Suite struct OpenStackErrorShapeTests {
    @Test func novaNeutronKeystoneAndGlanceErrorsAreRead() {
        let nova = OpenStackAPIError.from(json(404, ["itemNotFound": ["code": 404, "message": "Flavor 99 could not be found."]]),
                                          service: .compute, call: "GET flavors/99")
        #expect(nova.kind == "itemNotFound" && nova.message == "Flavor 99 could not be found.")
        let neutron = OpenStackAPIError.from(json(409, ["NeutronError": ["type": "SecurityGroupInUse", "message": "Security Group x in use.", "detail": ""]]),
                                             service: .network, call: "DELETE security-groups/x")
        #expect(neutron.kind == "SecurityGroupInUse" && neutron.message == "Security Group x in use.")
        let middleware = OpenStackAPIError.from(json(401, ["error": ["code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."]]),
                                                service: .compute, call: "GET servers/detail")
        #expect(middleware.message == "The request you have made requires authentication.")
        let glance = OpenStackAPIError.from(HTTPResponse(status: 404, body: Data("<html><body><h1>404 Not Found</h1>No image found with ID x</body></html>".utf8)),
                                            service: .image, call: "GET images/x")
        #expect(glance.message == "404 Not Found No image found with ID x")
        #expect(glance.description == "Glance GET images/x answered 404: 404 Not Found No image found with ID x")
    }

    @Test func quotaRefusalsBecomeQuotaErrorsWithAFix() throws {
        for (status, key) in [(403, "forbidden"), (413, "overLimit")] {
            let error = OpenStackAPIError(service: .compute, call: "POST servers", status: status, kind: key,
                                          message: "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances")
            let user = try #require(OpenStackErrorMapper.userError(error, source: "x") as? CloudcError)
            #expect(user.code == .quota)
            #expect(user.message.contains("already used 10 of 10 instances"))
            #expect(user.fix?.contains("openstack quota show") == true)
        }
        let neutron = OpenStackAPIError(service: .network, call: "POST floatingips", status: 409, kind: "OverQuota", message: "Quota exceeded for resources: ['floatingip'].")
        #expect((OpenStackErrorMapper.userError(neutron, source: "x") as? CloudcError)?.code == .quota)
        let forbidden = OpenStackAPIError(service: .compute, call: "POST servers", status: 403, kind: "forbidden", message: "Policy doesn't allow os_compute_api:servers:create")
        #expect((OpenStackErrorMapper.userError(forbidden, source: "x") as? CloudcError)?.code == .permission)
    }
}

@Suite struct OpenStackParsingTests {
    @Test func gpuExtraSpecsAreRecognisedAndCounted() {
        let pci = OpenStackProvider.gpuSpecs(["pci_passthrough:alias": "nvidia-t4:1,nvidia-a100:2", "hw:cpu_policy": "dedicated"])
        #expect(pci.specs == ["pci_passthrough:alias=nvidia-t4:1,nvidia-a100:2"] && pci.count == 3)
        let vgpu = OpenStackProvider.gpuSpecs(["resources:VGPU": "1"])
        #expect(vgpu.specs == ["resources:VGPU=1"] && vgpu.count == 1)
        let trait = OpenStackProvider.gpuSpecs(["trait:CUSTOM_NVIDIA_GPU": "required"])
        #expect(trait.specs.count == 1 && trait.count == nil)
        #expect(OpenStackProvider.gpuSpecs(["hw:mem_page_size": "large"]).specs.isEmpty)
    }

    @Test func aServerBecomesAnInstanceWithItsAddressesAndState() throws {
        let server: JSONValue = [
            "id": "5c2f", "status": "ACTIVE", "OS-EXT-AZ:availability_zone": "nova",
            "metadata": ["cloudc-cluster": "demo", "cloudc-node": "compute001", "cloudc-group": "compute",
                         "cloudc-incarnation": "1a2b3c4d", "cloudc-launch": "t-1"],
            "flavor": ["id": "4"],
            "addresses": ["private": [["addr": "fd00::5", "version": 6, "OS-EXT-IPS:type": "fixed"],
                                      ["addr": "10.0.0.5", "version": 4, "OS-EXT-IPS:type": "fixed"],
                                      ["addr": "203.0.113.7", "version": 4, "OS-EXT-IPS:type": "floating"]]],
        ]
        let instance = try #require(OpenStackProvider.instance(from: server))
        #expect(instance.id == "5c2f" && instance.node == "compute001" && instance.group == "compute")
        #expect(instance.incarnation == "1a2b3c4d" && instance.launchToken == "t-1")
        #expect(instance.privateIP == "10.0.0.5" && instance.publicIP == "203.0.113.7")
        #expect(instance.state == .running && instance.zone == "nova" && instance.flavor == "4")

        let failed: JSONValue = ["id": "x", "status": "ERROR", "fault": ["code": 500, "message": "No valid host was found. "]]
        #expect(OpenStackProvider.instance(from: failed)?.fault == "No valid host was found. ")
        #expect(OpenStackProvider.instance(from: failed)?.state == .error)
        #expect(OpenStackProvider.state(["status": "ACTIVE", "OS-EXT-STS:task_state": "deleting"]) == .terminating)
        #expect(OpenStackProvider.state(["status": "DELETED"]) == .terminated)
        #expect(OpenStackProvider.state(["status": "BUILD"]) == .pending)
        #expect(OpenStackProvider.state(["status": "SHUTOFF"]) == .stopped)
    }

    @Test func namesFiltersAndDescriptionsTieResourcesToTheCluster() {
        #expect(OpenStackNames.serverName(cluster: "demo", node: "gpu001") == "demo-gpu001")
        #expect(OpenStackNames.serverNameFilter(cluster: "a.b") == "^a\\.b-")
        #expect(OpenStackNames.floatingIPDescription(cluster: "demo", incarnation: "1a2b", node: "compute001") == "cloudc-demo-1a2b/compute001")
        #expect(OpenStackNames.floatingIPDescription(cluster: "demo", incarnation: "1a2b", node: "x")
            .hasPrefix(OpenStackNames.floatingIPPrefix(accessName: OpenStackNames.accessName(cluster: "demo", incarnation: "1a2b"))))
    }
}

@Suite struct OpenStackRequestTests {
    @Test func theServerBodyCarriesEverythingANodeNeeds() throws {
        let provider = openStackProvider(RoutedTransport { _ in json(200, .null) },
                                         settings: OpenStackSettings(network: "private", availabilityZone: "az2"))
        let group = NodeGroupSpec(name: "gpu", count: 1, flavor: "g1.t4", gpus: GPURequest(count: 1), diskGB: 100)
        let plan = OpenStackProvider.LaunchPlan(request: launchRequest(group: group, nodes: ["gpu001"]), flavorID: "gpu-t4",
                                                imageID: "img-1", networkID: "net-1")
        let body = provider.serverBody(node: "gpu001", name: "demo-gpu001", plan)
        #expect(body["name"] == "demo-gpu001" && body["flavorRef"] == "gpu-t4")
        #expect(body["imageRef"] == nil, "a boot volume replaces imageRef")
        let volume = try #require(body["block_device_mapping_v2"]?[0])
        #expect(volume["uuid"] == "img-1" && volume["volume_size"]?.int == 100 && volume["boot_index"]?.int == 0)
        #expect(volume["source_type"] == "image" && volume["destination_type"] == "volume" && volume["delete_on_termination"] == true)
        #expect(body["networks"] == [["uuid": "net-1"]])
        #expect(body["key_name"] == "cloudc-demo-1a2b3c4d" && body["security_groups"] == [["name": "cloudc-demo-1a2b3c4d"]])
        #expect(body["availability_zone"] == "az2")
        #expect(body["metadata"] == ["cloudc-cluster": "demo", "cloudc-node": "gpu001", "cloudc-group": "gpu",
                                     "cloudc-incarnation": "1a2b3c4d", "cloudc-launch": "t-1"])

        let plain = OpenStackProvider.LaunchPlan(request: launchRequest(group: NodeGroupSpec(name: "compute", count: 1, flavor: "m1.large"), nodes: ["compute001"]),
                                                 flavorID: "4", imageID: "img-1", networkID: "net-1")
        let second = openStackProvider(RoutedTransport { _ in json(200, .null) }).serverBody(node: "compute001", name: "demo-compute001", plain)
        #expect(second["imageRef"] == "img-1" && second["block_device_mapping_v2"] == nil && second["availability_zone"] == nil)
    }

    @Test func everyCallSendsTheTokenAndAddsTheServiceVersion() async throws {
        let transport = RoutedTransport { request in
            switch request.url.path {
            case "/network/v2.0/networks": return json(200, ["networks": [["id": "net-1", "name": "private"]]])
            case "/image/v2/images": return json(200, ["images": [["id": "img-1", "name": "debian-12", "status": "active"]]])
            default: return json(200, ["flavors": []])
            }
        }
        let provider = openStackProvider(transport)
        _ = try await provider.network()
        _ = try await provider.image("debian-12", template: "t")
        _ = try await provider.client.flavors()
        #expect(transport.requests.map(\.url.absoluteString) == [
            "http://cloud.test/network/v2.0/networks?name=private",
            "http://cloud.test/image/v2/images?name=debian-12",
            "http://cloud.test/compute/v2.1/flavors/detail",
        ])
        #expect(transport.requests.allSatisfy { $0.header("X-Auth-Token") == "gAAAAAB-fixed-token" })
    }

    @Test func aPostIsNotRepeatedButAGetIs() async throws {
        let transport = RoutedTransport { _ in json(503, ["computeFault": ["code": 503, "message": "busy"]]) }
        let client = OpenStackClient(auth: FixedOpenStackAuth(), transport: transport, retry: RetryPolicy(maxAttempts: 3, baseDelay: 0.001, maxDelay: 0.001))
        await #expect(throws: OpenStackAPIError.self) { _ = try await client.createServer(["name": "x"]) }
        #expect(transport.requests.count == 1)
        await #expect(throws: OpenStackAPIError.self) { _ = try await client.flavors() }
        #expect(transport.requests.count == 4)
    }

    @Test func anUnknownFlavorListsWhatTheCloudOffers() throws {
        let flavors: [JSONValue] = [["id": "2", "name": "m1.small"], ["id": "4", "name": "m1.large"]]
        #expect(try OpenStackProvider.flavor(named: "4", in: flavors, group: "g", template: "t")["name"] == "m1.large")
        let error = #expect(throws: CloudcError.self) { try OpenStackProvider.flavor(named: "m1.huge", in: flavors, group: "compute", template: "uni") }
        #expect(error?.message == "flavor m1.huge (group compute) does not exist on this cloud; it offers: m1.large, m1.small")
        #expect(error?.fix?.contains("clusters.uni.groups.compute") == true)
    }

    @Test func aGPUGroupNeedsAFlavorWithGPUsAndTheirSpecsAreReported() async throws {
        let transport = RoutedTransport { request in
            request.url.path.hasSuffix("/flavors/gpu-t4/os-extra_specs")
                ? json(200, ["extra_specs": ["pci_passthrough:alias": "nvidia-t4:1"]])
                : json(200, ["extra_specs": ["hw:cpu_policy": "shared"]])
        }
        let progress = GCEProviderTests.Lines()
        let provider = openStackProvider(transport, progress: progress)
        let gpu = NodeGroupSpec(name: "gpu", count: 1, flavor: "g1.t4", gpus: GPURequest(count: 1))
        try await provider.checkGPUs(group: gpu, flavor: ["id": "gpu-t4", "name": "g1.t4"], template: "uni")
        #expect(progress.all.contains("Flavor g1.t4 (group gpu) has GPUs: pci_passthrough:alias=nvidia-t4:1"))
        let two = NodeGroupSpec(name: "gpu", count: 1, flavor: "g1.t4", gpus: GPURequest(count: 2))
        let tooMany = await #expect(throws: CloudcError.self) { try await provider.checkGPUs(group: two, flavor: ["id": "gpu-t4", "name": "g1.t4"], template: "uni") }
        #expect(tooMany?.message.contains("grants 1") == true)
        let none = await #expect(throws: CloudcError.self) { try await provider.checkGPUs(group: gpu, flavor: ["id": "4", "name": "m1.large"], template: "uni") }
        #expect(none?.message.contains("has none in its extra specs") == true)
    }
}

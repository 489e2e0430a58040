import CloudcCore
import Foundation
import Testing

/// The one rule of how cloudc reaches a node: on a cloud the frontend directly (public address, or
/// private with `reach: private`) and every other node through it; a local cluster's nodes directly.
@Suite struct NodeRouteTests {
    static func cluster(provider: ProviderKind, reach: NetworkReach? = nil, frontendPublic: String? = "203.0.113.5") -> ClusterState {
        let settings: ProviderSettings = provider == .local ? .local(LocalSettings()) : .gce(GCESettings(zones: ["z"]))
        let spec = ClusterSpec(template: "lab", cloud: CloudSpec(name: "c", provider: provider, settings: settings, reach: reach),
                               login: LoginSpec(name: "default", user: "debian", privateKey: "k", publicKey: "k.pub"),
                               image: "debian-12",
                               groups: [NodeGroupSpec(name: "frontend", count: 1, flavor: "f"),
                                        NodeGroupSpec(name: "compute", count: 1, flavor: "f", publicIP: true)])
        var state = ClusterState(name: "lab", incarnation: "0123456789ab", spec: spec, now: Date())
        state.nodes = [NodeRecord(name: "frontend001", group: "frontend", privateIP: "10.0.0.2", publicIP: frontendPublic,
                                  state: .running, flavor: "f"),
                       NodeRecord(name: "compute001", group: "compute", privateIP: "10.0.0.3", publicIP: "203.0.113.6",
                                  state: .running, flavor: "f")]
        return state
    }

    @Test func onACloudTheFrontendIsReachedDirectlyAndEveryOtherNodeThroughIt() throws {
        let state = Self.cluster(provider: .gce)
        #expect(NodeRoute(state.nodes[0], in: state) == NodeRoute(address: "203.0.113.5"))
        // Even a node with a public address of its own (public_ip: true): SSH reaches the frontend only.
        #expect(NodeRoute(state.nodes[1], in: state) == NodeRoute(address: "10.0.0.3", jump: "203.0.113.5"))

        let vpn = Self.cluster(provider: .gce, reach: .privateNetwork, frontendPublic: nil)
        #expect(NodeRoute(vpn.nodes[0], in: vpn) == NodeRoute(address: "10.0.0.2"))
        #expect(NodeRoute(vpn.nodes[1], in: vpn) == NodeRoute(address: "10.0.0.3", jump: "10.0.0.2"))
    }

    @Test func withoutAFrontendToGoThroughNoNodeHasARoute() throws {
        let waiting = Self.cluster(provider: .gce, frontendPublic: nil)   // e.g. its floating IP not attached yet
        #expect(NodeRoute(waiting.nodes[0], in: waiting) == nil)
        #expect(NodeRoute(waiting.nodes[1], in: waiting) == nil)
    }

    @Test func aLocalClustersNodesAreEachReachedDirectly() throws {
        var state = Self.cluster(provider: .local, frontendPublic: nil)
        state.nodes[1].publicIP = nil
        #expect(NodeRoute(state.nodes[0], in: state) == NodeRoute(address: "10.0.0.2"))
        #expect(NodeRoute(state.nodes[1], in: state) == NodeRoute(address: "10.0.0.3"))
    }

    /// Own machines: each directly (or through the cloud's jump host), with the port, user and key
    /// recorded when it joined; the frontend is no hop.
    @Test func ownMachinesAreEachReachedAsRecorded() throws {
        var state = Self.cluster(provider: .ssh)
        state.spec.cloud.settings = .ssh(OwnMachinesSettings(hosts: [OwnHost(host: "gpu1"), OwnHost(host: "gpu2")]))
        state.nodes[1].login = NodeLogin(host: "gpu2", user: "alice", port: 2222, key: "/keys/lab")
        #expect(NodeRoute(state.nodes[0], in: state) == NodeRoute(address: "10.0.0.2"))
        var expected = NodeRoute(address: "10.0.0.3")
        expected.port = 2222; expected.user = "alice"; expected.key = "/keys/lab"
        #expect(NodeRoute(state.nodes[1], in: state) == expected)

        state.spec.cloud.settings = .ssh(OwnMachinesSettings(hosts: [OwnHost(host: "gpu1")], jump: "me@bastion:2200"))
        expected.jump = "bastion"; expected.jumpPort = 2200; expected.jumpUser = "me"
        #expect(NodeRoute(state.nodes[1], in: state) == expected)
    }
}

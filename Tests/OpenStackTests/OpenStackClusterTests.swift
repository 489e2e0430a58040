import CLITestSupport
import Foundation
import Testing
import TestSupport

/// `cloudc start uni` end to end: identity from a real Keystone (from PyPI, on loopback),
/// compute, network and image from the local peer that Keystone's catalog names, whose
/// requests and responses follow Nova's published API samples and which validates every
/// token with Keystone.
@Suite(.serialized, .needsPeer) struct OpenStackClusterTests {
    static func config(floatingIPs: Bool = true, extraCloudKeys: String = "", gpu: Bool = true) -> String {
        """
        clouds:
          uni:
            provider: openstack
            cloud: testcloud
            network: private
            \(floatingIPs ? "floating_ip_network: public" : "")
            \(extraCloudKeys)
        logins:
          default:
            user: debian
            private_key: $HOME/id_ed25519
        clusters:
          uni:
            cloud: uni
            image: debian-12
            ssh_from: 198.51.100.0/24
            groups:
              frontend: {count: 1, flavor: m1.small}
              compute: {count: 2, flavor: m1.large}
        \(gpu ? "      gpu: {count: 1, flavor: g1.t4, gpus: {count: 1}, disk_gb: 120}" : "")
        """
    }

    /// A user whose ~/.config/openstack/clouds.yaml names the peer's Keystone.
    static func user(_ peer: OpenStackPeer, config: String = config(), applicationCredential: Bool = false,
                     cloudsYAML: String? = nil, environment: [String: String] = [:]) throws -> UserMachine {
        let user = try UserMachine(moto: nil, config: config, extraEnvironment: ["CLOUDC_POLL_SECONDS": "0.1"].merging(environment) { _, new in new })
        _ = try user.home.write(".config/openstack/clouds.yaml", cloudsYAML ?? peer.cloudsYAML(applicationCredential: applicationCredential))
        return user
    }

    /// Nothing of a cluster is left in the cloud.
    func expectNothingLeft(_ peer: OpenStackPeer, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let state = try await peer.state()
        #expect(state.servers.isEmpty, "servers left: \(state.servers.map(\.name))", sourceLocation: sourceLocation)
        #expect(state.keypairs.isEmpty, "key pairs left: \(state.keypairs.map(\.name))", sourceLocation: sourceLocation)
        #expect(state.securityGroups.filter { $0.name.hasPrefix("cloudc-") }.isEmpty,
                "security groups left: \(state.securityGroups.map(\.name))", sourceLocation: sourceLocation)
        #expect(state.floatingIPs.isEmpty, "floating IPs left: \(state.floatingIPs.map(\.address))", sourceLocation: sourceLocation)
    }

    @Test func threeGroupsWithFloatingIPsStartListAndStopLeavingNothing() async throws {
        try await OpenStackPeer.with { peer in
            let user = try Self.user(peer)
            let began = Date()
            let start = await user.cloudc("start", "uni", "--no-setup")
            print(String(format: "timing: openstack start of 4 nodes with floating IPs (build 0.3 s each): %.2f s", Date().timeIntervalSince(began)))
            #expect(start.status == 0, "\(start.stderr)")
            #expect(start.stderr.contains("Flavor g1.t4 (group gpu) has GPUs: pci_passthrough:alias=nvidia-t4:1"), "\(start.stderr)")

            let state = try await peer.state()
            #expect(state.servers.count == 4)
            #expect(state.servers.allSatisfy { $0.status == "ACTIVE" })
            let byNode = Dictionary(uniqueKeysWithValues: state.servers.map { ($0.metadata["cloudc-node"] ?? "?", $0) })
            #expect(Set(byNode.keys) == ["frontend001", "compute001", "compute002", "gpu001"])
            for (node, server) in byNode {
                #expect(server.name == "uni-\(node)")
                #expect(server.metadata["cloudc-cluster"] == "uni")
                #expect(server.networks == ["private"])
                #expect(server.keyName?.hasPrefix("cloudc-uni-") == true)
                // The frontend alone has a floating IP and the group that lets SSH in from ssh_from.
                let frontend = node == "frontend001"
                #expect(server.securityGroups.count == (frontend ? 2 : 1) && server.securityGroups.allSatisfy { $0.hasPrefix("cloudc-uni-") })
                #expect(server.securityGroups.contains { $0.hasSuffix("-ssh") } == frontend, "\(node): \(server.securityGroups)")
                #expect((server.floatingIP != nil) == frontend, "\(node): \(server.floatingIP ?? "no floating IP")")
            }
            #expect(byNode["gpu001"]?.flavorID == "gpu-t4" && byNode["gpu001"]?.bootVolumeSize == 120)
            #expect(byNode["compute001"]?.metadata["cloudc-group"] == "compute" && byNode["compute001"]?.bootVolumeSize == nil)
            #expect(state.keypairs.count == 1 && state.keypairs[0].publicKey.hasPrefix("ssh-ed25519 "))
            let group = try #require(state.securityGroups.first { $0.name.hasPrefix("cloudc-uni-") && !$0.name.hasSuffix("-ssh") })
            let ssh = try #require(state.securityGroups.first { $0.name.hasPrefix("cloudc-uni-") && $0.name.hasSuffix("-ssh") })
            #expect(ssh.rules.contains { $0.direction == "ingress" && $0.protocol == "tcp" && $0.portRangeMin == 22
                && $0.portRangeMax == 22 && $0.remoteIPPrefix == "198.51.100.0/24" })
            #expect(!group.rules.contains { $0.remoteIPPrefix == "198.51.100.0/24" }, "SSH from outside reaches the frontend only")
            #expect(group.rules.contains { $0.direction == "ingress" && $0.remoteGroupID == group.id && $0.ethertype == "IPv4" })
            #expect(state.floatingIPs.count == 1 && state.floatingIPs.allSatisfy { $0.portID != nil })

            let nodes = await user.cloudc("list-nodes")
            #expect(nodes.status == 0)
            for server in state.servers {
                #expect(nodes.stdout.contains(server.floatingIP ?? server.fixedIP ?? "?"), "\(nodes.stdout)")
            }
            #expect(state.rejectedTokens == 0)

            // The host keys each server's console shows (cloud-init's block, os-getConsoleOutput) were
            // pinned under the address cloudc reaches it at, before any SSH connection.
            #expect(start.stderr.contains("host keys (console output)"), "\(start.stderr)")
            let pinned = try String(contentsOfFile: user.stateDirectory + "/uni.known_hosts", encoding: .utf8)
            for server in state.servers {
                #expect(!server.hostKeys.isEmpty)
                // The frontend under its floating IP, the others under their fixed IP (reached through the frontend).
                for key in server.hostKeys {
                    #expect(pinned.contains("\(server.floatingIP ?? server.fixedIP ?? "-") \(key)\n"), "\(server.name): \(pinned)")
                }
            }
            #expect(pinned.split(separator: "\n").count == 4)

            let stopping = Date()
            let stop = await user.cloudc("stop")
            print(String(format: "timing: openstack stop of 4 nodes, 4 floating IPs, key pair, security group: %.2f s", Date().timeIntervalSince(stopping)))
            #expect(stop.status == 0, "\(stop.stderr)")
            try await expectNothingLeft(peer)
            #expect(user.stateFiles().isEmpty)
        }
    }

    @Test func anApplicationCredentialAndTheInternalInterfaceWork() async throws {
        try await OpenStackPeer.with { peer in
            let yaml = peer.cloudsYAML(applicationCredential: true).replacingOccurrences(of: "interface: public", with: "interface: internal")
            let config = Self.config(floatingIPs: false, extraCloudKeys: "availability_zone: az2", gpu: false)
            let user = try Self.user(peer, config: config, cloudsYAML: yaml)
            let start = await user.cloudc("start", "uni", "--no-setup")
            #expect(start.status == 0, "\(start.stderr)")
            let state = try await peer.state()
            #expect(state.servers.count == 3)
            #expect(state.servers.allSatisfy { $0.availabilityZone == "az2" && $0.floatingIP == nil })
            #expect((state.requests["internal"] ?? 0) > 0 && (state.requests["public"] ?? 0) == 0, "\(state.requests)")
            #expect(await user.cloudc("stop").status == 0)
            try await expectNothingLeft(peer)
        }
    }

    @Test func osEnvironmentVariablesAndARegionPickTheEndpoints() async throws {
        try await OpenStackPeer.with { peer in
            let environment = ["OS_AUTH_URL": peer.authURL, "OS_USERNAME": peer.username, "OS_PASSWORD": peer.password,
                               "OS_PROJECT_NAME": peer.projectName, "OS_USER_DOMAIN_NAME": peer.userDomain,
                               "OS_PROJECT_DOMAIN_NAME": peer.projectDomain, "OS_REGION_NAME": "RegionTwo"]
            let config = Self.config(floatingIPs: false, gpu: false).replacingOccurrences(of: "cloud: testcloud", with: "")
            let user = try Self.user(peer, config: config, cloudsYAML: "clouds: {}\n", environment: environment)
            let start = await user.cloudc("start", "uni", "--no-setup")
            #expect(start.status == 0, "\(start.stderr)")
            let state = try await peer.state()
            #expect(state.servers.count == 3)
            #expect((state.requests["region-two"] ?? 0) > 0 && (state.requests["public"] ?? 0) == 0, "\(state.requests)")
            #expect(await user.cloudc("stop").status == 0)
            try await expectNothingLeft(peer)
        }
    }

    @Test func aWrongPasswordIsRefusedClearlyAndNothingIsCreated() async throws {
        try await OpenStackPeer.with { peer in
            let wrong = "not-\(peer.password)-at-all"
            let yaml = peer.cloudsYAML().replacingOccurrences(of: peer.password, with: wrong)
            let user = try Self.user(peer, cloudsYAML: yaml)
            let start = await user.cloudc("start", "uni", "--no-setup")
            #expect(start.status != 0)
            #expect(start.stderr.contains("Keystone at \(peer.authURL)") && start.stderr.contains("refused"), "\(start.stderr)")
            #expect(start.stderr.contains("The request you have made requires authentication"), "\(start.stderr)")
            #expect(start.stderr.contains(peer.username) && start.stderr.contains("fix:"), "\(start.stderr)")
            #expect(!start.stderr.contains(wrong) && !start.stdout.contains(wrong))
            #expect(user.stateFiles().isEmpty)
            #expect(try await peer.state().serverCreates == 0)
        }
    }

    @Test func unknownFlavorImageAndNetworkAreNamedBeforeAnythingIsCreated() async throws {
        try await OpenStackPeer.with { peer in
            let cases: [(config: String, expected: String)] = [
                (Self.config(gpu: false).replacingOccurrences(of: "flavor: m1.large", with: "flavor: m1.huge"),
                 "flavor m1.huge (group compute) does not exist on this cloud; it offers: g1.t4, m1.large, m1.small"),
                (Self.config(gpu: false).replacingOccurrences(of: "image: debian-12", with: "image: debian-13"),
                 "image debian-13 does not exist on this cloud"),
                (Self.config(gpu: false).replacingOccurrences(of: "network: private", with: "network: privat"),
                 "network privat does not exist on this cloud"),
                (Self.config(gpu: false).replacingOccurrences(of: "floating_ip_network: public", with: "floating_ip_network: private"),
                 "network private is not external"),
                (Self.config(gpu: false).replacingOccurrences(of: "{count: 2, flavor: m1.large}", with: "{count: 2, flavor: m1.large, gpus: {count: 1}}"),
                 "flavor m1.large has none in its extra specs"),
            ]
            for (config, expected) in cases {
                let user = try Self.user(peer, config: config)
                let start = await user.cloudc("start", "uni", "--no-setup")
                #expect(start.status != 0)
                #expect(start.stderr.contains(expected), "\(start.stderr)")
                #expect(start.stderr.contains("fix:"))
                #expect(user.stateFiles().isEmpty)
            }
            let state = try await peer.state()
            #expect(state.serverCreates == 0 && state.keypairs.isEmpty && state.floatingIPs.isEmpty)
        }
    }

    @Test func aServerInErrorIsReportedWithItsFaultAndCleanedUp() async throws {
        try await OpenStackPeer.with { peer in
            let fault = "No valid host was found. There are not enough hosts available."
            try await peer.injectFault(nameContains: "gpu001", message: fault)
            let user = try Self.user(peer)
            let start = await user.cloudc("start", "uni", "--no-setup")
            #expect(start.status != 0)
            #expect(start.stderr.contains("gpu001") && start.stderr.contains(fault), "\(start.stderr)")
            #expect(start.stderr.contains("deleted"), "\(start.stderr)")
            let state = try await peer.state()
            #expect(!state.servers.contains { $0.name.contains("gpu001") }, "the ERROR server is still there")
            #expect(!state.floatingIPs.contains { $0.description.hasSuffix("/gpu001") })
            let stop = await user.cloudc("stop")
            #expect(stop.status == 0, "\(stop.stderr)")
            try await expectNothingLeft(peer)
        }
    }

    @Test func aQuotaRefusalSaysSoAndStopCleansUp() async throws {
        try await OpenStackPeer.with { peer in
            for status in [403, 413] {
                try await peer.injectQuota(status: status, count: 1)
                let user = try Self.user(peer, config: Self.config(floatingIPs: true, gpu: false))
                let start = await user.cloudc("start", "uni", "--no-setup")
                #expect(start.status != 0)
                #expect(start.stderr.contains("Quota exceeded for instances") && start.stderr.contains("\(status)"), "\(start.stderr)")
                #expect(start.stderr.contains("openstack quota show"), "\(start.stderr)")
                let stop = await user.cloudc("stop")
                #expect(stop.status == 0, "\(stop.stderr)")
                try await expectNothingLeft(peer)
            }
        }
    }

    @Test func aKilledStartRunAgainMakesNoSecondServer() async throws {
        try await OpenStackPeer.with { peer in
            let user = try Self.user(peer)
            // Slow the cloud down so the kill lands while servers are being built.
            try await peer.settings(buildSeconds: 1.5)
            let seen = try await user.runCloudcKilled(["start", "uni", "--no-setup"]) {
                try await peer.state().serverCreates >= 2
            }
            #expect(seen, "no create reached the cloud before the kill")

            try await peer.settings(buildSeconds: 0.2)
            let again = await user.cloudc("start", "uni", "--no-setup")
            #expect(again.status == 0, "\(again.stderr)")
            let state = try await peer.state()
            let perNode = Dictionary(grouping: state.servers, by: { $0.metadata["cloudc-node"] ?? "?" })
            #expect(perNode.count == 4)
            #expect(perNode.values.allSatisfy { $0.count == 1 }, "\(perNode.mapValues { $0.map(\.id) })")
            let addresses = Dictionary(grouping: state.floatingIPs, by: \.description)
            #expect(addresses.count == 1 && addresses.values.allSatisfy { $0.count == 1 }, "\(addresses.keys.sorted())")
            let stop = await user.cloudc("stop")
            #expect(stop.status == 0, "\(stop.stderr)")
            try await expectNothingLeft(peer)
        }
    }
}

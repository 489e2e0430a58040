import Foundation
import Testing
import TestSupport

extension OpenStackPeerTests {
    /// The peer's Neutron and Glance: their shapes, filters and errors.
    @Suite struct NetworkAndImage {
        @Test func networksAreAPrivateTenantNetworkAndAnExternalOne() async throws {
            try await OpenStackPeer.with { peer in
                let token = try await peer.token()
                let privateNetwork = try #require((try await peer.neutron("GET", "/networks?name=private", token: token)
                    .json?["networks"] as? [[String: Any]])?.first)
                #expect(privateNetwork["router:external"] as? Bool == false)
                #expect(privateNetwork["project_id"] as? String == peer.projectID)
                let publicNetworks = try #require(try await peer.neutron("GET", "/networks?router:external=true", token: token)
                    .json?["networks"] as? [[String: Any]])
                #expect(publicNetworks.compactMap { $0["name"] as? String } == ["public"])
                let subnetID = try #require((privateNetwork["subnets"] as? [String])?.first)
                let subnet = try #require(try await peer.neutron("GET", "/subnets/\(subnetID)", token: token).json?["subnet"] as? [String: Any])
                #expect(subnet["cidr"] as? String == "10.0.0.0/24")
                let publicSubnetID = try #require((publicNetworks.first?["subnets"] as? [String])?.first)
                #expect((try await peer.neutron("GET", "/subnets/\(publicSubnetID)", token: token).json?["subnet"] as? [String: Any])?["cidr"]
                    as? String == "203.0.113.0/24")
                #expect((try await peer.neutron("GET", "/networks?name=nope", token: token).json?["networks"] as? [[String: Any]])?.isEmpty == true)

                let missing = try await peer.neutron("GET", "/networks/11111111-2222-3333-4444-555555555555", token: token)
                #expect(missing.status == 404)
                #expect(missing.neutronError?.type == "NetworkNotFound")
                #expect(missing.neutronError?.message == "Network 11111111-2222-3333-4444-555555555555 could not be found.")
                let badFilter = try await peer.neutron("GET", "/networks?colour=blue", token: token)
                #expect(badFilter.status == 400)
                #expect(badFilter.neutronError?.message == "[colour] is invalid attribute for filtering")
                #expect((badFilter.json?["NeutronError"] as? [String: Any])?["detail"] as? String == "")
            }
        }

        @Test func securityGroupsComeWithEgressRulesRefuseDuplicatesAndCannotGoWhileInUse() async throws {
            try await OpenStackPeer.with(buildSeconds: 0.1) { peer in
                let token = try await peer.token()
                let created = try await peer.neutron("POST", "/security-groups", json: ["security_group": [
                    "name": "cloudc-c1", "description": "cloudc cluster c1"]], token: token)
                #expect(created.status == 201, "\(created.text)")
                let group = try #require(created.json?["security_group"] as? [String: Any])
                let groupID = try #require(group["id"] as? String)
                let rules = try #require(group["security_group_rules"] as? [[String: Any]])
                #expect(rules.map { "\($0["direction"] as? String ?? "") \($0["ethertype"] as? String ?? "")" }.sorted()
                    == ["egress IPv4", "egress IPv6"])
                #expect(rules.allSatisfy { $0["protocol"] is NSNull && $0["remote_ip_prefix"] is NSNull })

                let unknown = try await peer.neutron("POST", "/security-groups", json: ["security_group": ["name": "x", "colour": "red"]], token: token)
                #expect(unknown.status == 400)
                #expect(unknown.neutronError?.type == "HTTPBadRequest")
                #expect(unknown.neutronError?.message == "Unrecognized attribute(s) 'colour'")

                let ssh: [String: Any] = ["security_group_id": groupID, "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
                                          "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "192.0.2.0/24"]
                let rule = try await peer.neutron("POST", "/security-group-rules", json: ["security_group_rule": ssh], token: token)
                #expect(rule.status == 201, "\(rule.text)")
                let ruleID = try #require((rule.json?["security_group_rule"] as? [String: Any])?["id"] as? String)
                let duplicate = try await peer.neutron("POST", "/security-group-rules", json: ["security_group_rule": ssh], token: token)
                #expect(duplicate.status == 409)
                #expect(duplicate.neutronError?.type == "SecurityGroupRuleExists")
                #expect(duplicate.neutronError?.message == "Security group rule already exists. Rule id is \(ruleID).")
                let fromGroup = try await peer.neutron("POST", "/security-group-rules", json: ["security_group_rule": [
                    "security_group_id": groupID, "direction": "ingress", "remote_group_id": groupID]], token: token)
                #expect(fromGroup.status == 201)
                var both = ssh
                both["remote_group_id"] = groupID
                #expect(try await peer.neutron("POST", "/security-group-rules", json: ["security_group_rule": both], token: token)
                    .neutronError?.type == "SecurityGroupRemoteGroupAndRemoteIpPrefix")
                var portsOnly = ssh
                portsOnly["protocol"] = nil
                portsOnly["port_range_min"] = 80
                portsOnly["port_range_max"] = 80
                #expect(try await peer.neutron("POST", "/security-group-rules", json: ["security_group_rule": portsOnly], token: token)
                    .neutronError?.message == "Must also specify protocol if port range is given.")
                var elsewhere = ssh
                elsewhere["security_group_id"] = "11111111-2222-3333-4444-555555555555"
                let noGroup = try await peer.neutron("POST", "/security-group-rules", json: ["security_group_rule": elsewhere], token: token)
                #expect(noGroup.status == 404)
                #expect(noGroup.neutronError?.type == "SecurityGroupNotFound")

                let state = try await peer.state()
                let recorded = try #require(state.securityGroup("cloudc-c1"))
                #expect(recorded.rules.count == 4)
                let recordedSSH = try #require(recorded.rules.first { $0.portRangeMin == 22 })
                #expect(recordedSSH.protocol == "tcp")
                #expect(recordedSSH.portRangeMax == 22)
                #expect(recordedSSH.remoteIPPrefix == "192.0.2.0/24")
                #expect(recordedSSH.direction == "ingress")
                #expect(recorded.rules.contains { $0.remoteGroupID == groupID })
                // Neutron made the project's default group on first use.
                #expect(state.securityGroup("default") != nil)

                let byName = try await peer.neutron("GET", "/security-groups?name=cloudc-c1", token: token)
                #expect((byName.json?["security_groups"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [groupID])

                // In use by a server's port: 409 until the server is gone.
                let server = try await peer.createServer(serverBody("c1-frontend", extra: ["security_groups": [["name": "cloudc-c1"]]]), token: token)
                let inUse = try await peer.neutron("DELETE", "/security-groups/\(groupID)", token: token)
                #expect(inUse.status == 409)
                #expect(inUse.neutronError?.type == "SecurityGroupInUse")
                #expect(inUse.neutronError?.message == "Security Group \(groupID) in use.")
                #expect(try await peer.nova("DELETE", "/servers/\(server)", token: token).status == 204)
                try await waitUntil("the server using the group to be gone", seconds: 20) {
                    try await peer.nova("GET", "/servers/\(server)", token: token).status == 404
                }
                #expect(try await peer.neutron("DELETE", "/security-group-rules/\(ruleID)", token: token).status == 204)
                #expect(try await peer.neutron("DELETE", "/security-groups/\(groupID)", token: token).status == 204)
                let gone = try await peer.neutron("GET", "/security-groups/\(groupID)", token: token)
                #expect(gone.status == 404)
                #expect(gone.neutronError?.type == "SecurityGroupNotFound")
                #expect(gone.neutronError?.message == "Security group \(groupID) does not exist")
                #expect(try await peer.state().securityGroup("cloudc-c1") == nil)
            }
        }

        @Test func floatingIPsAreAllocatedAssociatedShownOnTheServerAndReleased() async throws {
            try await OpenStackPeer.with(buildSeconds: 0.1) { peer in
                let token = try await peer.token()
                let external = try await peer.networkID("public", token: token)
                let internalNetwork = try await peer.networkID("private", token: token)
                let server = try await peer.createServer(serverBody("c1-frontend"), token: token)
                _ = try await peer.waitForStatus(server, "ACTIVE", token: token)
                let port = try #require((try await peer.neutron("GET", "/ports?device_id=\(server)&network_id=\(internalNetwork)", token: token)
                    .json?["ports"] as? [[String: Any]])?.first?["id"] as? String)

                let notExternal = try await peer.neutron("POST", "/floatingips", json: ["floatingip": ["floating_network_id": internalNetwork]],
                                                         token: token)
                #expect(notExternal.status == 400)
                #expect(notExternal.neutronError?.type == "BadRequest")
                #expect(notExternal.neutronError?.message == "Bad floatingip request: Network \(internalNetwork) is not a valid external network.")
                let unknown = try await peer.neutron("POST", "/floatingips", json: ["floatingip": ["floating_network_id": external, "zone": "a"]],
                                                     token: token)
                #expect(unknown.neutronError?.message == "Unrecognized attribute(s) 'zone'")

                let created = try await peer.neutron("POST", "/floatingips", json: ["floatingip": [
                    "floating_network_id": external, "description": "cloudc-c1"]], token: token)
                #expect(created.status == 201, "\(created.text)")
                let fip = try #require(created.json?["floatingip"] as? [String: Any])
                let fipID = try #require(fip["id"] as? String)
                let address = try #require(fip["floating_ip_address"] as? String)
                #expect(address.hasPrefix("203.0.113."))
                #expect(fip["port_id"] is NSNull)
                #expect(fip["status"] as? String == "DOWN")

                let associated = try await peer.neutron("PUT", "/floatingips/\(fipID)", json: ["floatingip": ["port_id": port]], token: token)
                #expect(associated.status == 200, "\(associated.text)")
                #expect((associated.json?["floatingip"] as? [String: Any])?["port_id"] as? String == port)
                #expect((associated.json?["floatingip"] as? [String: Any])?["status"] as? String == "ACTIVE")
                let shown = try #require(try await peer.nova("GET", "/servers/\(server)", token: token).json?["server"] as? [String: Any])
                let addresses = try #require((shown["addresses"] as? [String: Any])?["private"] as? [[String: Any]])
                #expect(addresses.contains { $0["OS-EXT-IPS:type"] as? String == "floating" && $0["addr"] as? String == address })
                #expect(try await peer.state().server("c1-frontend")?.floatingIP == address)

                let byPort = try await peer.neutron("GET", "/floatingips?port_id=\(port)", token: token)
                #expect((byPort.json?["floatingips"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [fipID])
                let byDescription = try await peer.neutron("GET", "/floatingips?description=cloudc-c1&floating_network_id=\(external)", token: token)
                #expect((byDescription.json?["floatingips"] as? [[String: Any]])?.count == 1)
                #expect((try await peer.neutron("GET", "/floatingips?description=other", token: token).json?["floatingips"] as? [[String: Any]])?.isEmpty
                    == true)

                let second = try await peer.neutron("POST", "/floatingips", json: ["floatingip": ["floating_network_id": external, "port_id": port]],
                                                    token: token)
                #expect(second.status == 409)
                #expect(second.neutronError?.type == "FloatingIPPortAlreadyAssociated")

                let released = try await peer.neutron("PUT", "/floatingips/\(fipID)", json: ["floatingip": ["port_id": NSNull()]], token: token)
                #expect(released.status == 200)
                #expect((released.json?["floatingip"] as? [String: Any])?["port_id"] is NSNull)
                var state = try await peer.state()
                #expect(state.server("c1-frontend")?.floatingIP == nil)
                #expect(state.floatingIPs.map(\.address) == [address])
                #expect(state.floatingIPs.first?.floatingNetworkID == external)

                #expect(try await peer.neutron("DELETE", "/floatingips/\(fipID)", token: token).status == 204)
                let gone = try await peer.neutron("DELETE", "/floatingips/\(fipID)", token: token)
                #expect(gone.status == 404)
                #expect(gone.neutronError?.type == "FloatingIPNotFound")
                #expect(gone.neutronError?.message == "Floating IP \(fipID) could not be found")
                state = try await peer.state()
                #expect(state.floatingIPs.isEmpty)
            }
        }

        @Test func glanceFindsImagesByNameAndAnswersAMissingOneAsGlanceDoes() async throws {
            try await OpenStackPeer.with { peer in
                let token = try await peer.token()
                let listed = try await peer.glance("GET", "/images?name=debian-12", token: token)
                #expect(listed.status == 200)
                #expect(listed.json?["schema"] as? String == "/v2/schemas/images")
                #expect(listed.json?["first"] as? String == "/v2/images")
                let images = try #require(listed.json?["images"] as? [[String: Any]])
                #expect(images.count == 1)
                let image = try #require(images.first)
                #expect(image["id"] as? String == Fixture.debian)
                #expect(image["status"] as? String == "active")
                #expect(image["visibility"] as? String == "public")
                #expect(image["min_disk"] as? Int == 2)
                let all = try #require(try await peer.glance("GET", "/images", token: token).json?["images"] as? [[String: Any]])
                #expect(all.compactMap { $0["name"] as? String } == ["debian-12", "ubuntu-24.04"])
                #expect((try await peer.glance("GET", "/images?name=centos", token: token).json?["images"] as? [[String: Any]])?.isEmpty == true)
                let one = try await peer.glance("GET", "/images/\(Fixture.ubuntu)", token: token)
                #expect(one.json?["name"] as? String == "ubuntu-24.04")
                let missing = try await peer.glance("GET", "/images/11111111-2222-3333-4444-555555555555", token: token)
                #expect(missing.status == 404)
                #expect(missing.text.contains("No image found with ID 11111111-2222-3333-4444-555555555555"))
            }
        }
    }
}

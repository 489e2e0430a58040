import Foundation
import Testing
import TestSupport

extension OpenStackPeerTests {
    /// The peer's Nova: request keys from Nova's API samples, Nova's required fields, rules and
    /// messages, and answers with the samples' keys.
    @Suite struct Compute {
        @Test func aKeyNoNovaSampleHasIsRefusedWithNovasSchemaMessage() async throws {
            try await OpenStackPeer.with { peer in
                let token = try await peer.token()
                var body = serverBody("node-1", extra: ["foo": "bar"])
                let top = try await peer.nova("POST", "/servers", json: body, token: token)
                #expect(top.status == 400)
                #expect(top.novaFault?.name == "badRequest")
                #expect(top.novaFault?.code == 400)
                // The value is Python's repr of the body's "server", in the order the client sent its keys.
                let message = try #require(top.novaFault?.message)
                #expect(message.hasPrefix("Invalid input for field/attribute server. Value: {"), "\(message)")
                #expect(message.contains("'foo': 'bar'") && message.contains("'flavorRef': '2'"))
                #expect(message.hasSuffix("}. Additional properties are not allowed ('foo' was unexpected)"))

                // Beside "server", and inside a network entry.
                body = serverBody("node-1")
                body["hints"] = ["same_host": "x"]
                let outside = try await peer.nova("POST", "/servers", json: body, token: token)
                #expect(outside.novaFault?.message == "Additional properties are not allowed ('hints' was unexpected)")
                let network = try await peer.networkID("private", token: token)
                body = serverBody("node-1", extra: ["networks": [["uuid": network, "subnet": "x"]]])
                let nested = try await peer.nova("POST", "/servers", json: body, token: token)
                #expect(nested.novaFault?.message?.hasPrefix("Invalid input for field/attribute 0. Value: {") == true, "\(nested.text)")
                #expect(nested.novaFault?.message?.contains("'uuid': '\(network)'") == true)
                #expect(nested.novaFault?.message?.hasSuffix("}. Additional properties are not allowed ('subnet' was unexpected)") == true)
                let keypair = try await peer.nova("POST", "/os-keypairs", json: ["keypair": [
                    "name": "k", "public_key": Fixture.publicKey, "comment": "x"]], token: token)
                #expect(keypair.status == 400)
                #expect(keypair.novaFault?.message?.hasSuffix("Additional properties are not allowed ('comment' was unexpected)") == true)

                // A key of a later microversion is refused at an earlier one, and one a later
                // microversion took out is refused from then on, as Nova's schema for each does.
                let early = try await peer.nova("POST", "/servers", json: serverBody("node-1", extra: ["hostname": "node-1"]), token: token)
                #expect(early.novaFault?.message?.hasSuffix("Additional properties are not allowed ('hostname' was unexpected)") == true,
                        "\(early.text)")
                let tags = try await peer.nova("POST", "/servers", json: serverBody("node-1", extra: ["tags": ["a"], "networks": "none"]),
                                               token: token, microversion: "2.51")
                #expect(tags.novaFault?.message?.hasSuffix("('tags' was unexpected)") == true, "\(tags.text)")
                let removed = try await peer.nova("POST", "/servers", json: serverBody("node-1", extra: [
                    "personality": [["path": "/etc/motd", "contents": "aGk="]], "networks": "none"]), token: token, microversion: "2.57")
                #expect(removed.novaFault?.message?.hasSuffix("('personality' was unexpected)") == true, "\(removed.text)")
                #expect(try await peer.state().serverCreates == 0)

                // At the microversion that brought them they pass, as do keys of Nova's schema no sample shows.
                body = serverBody("node-1", extra: ["hostname": "node-1", "networks": [["uuid": network]], "config_drive": true,
                                                    "user_data": Data("#!/bin/sh\n".utf8).base64EncodedString(),
                                                    "OS-DCF:diskConfig": "AUTO"])
                _ = try await peer.createServer(body, token: token, microversion: "2.90")
                #expect(try await peer.state().serverCreates == 1)
            }
        }

        @Test func requiredFieldsAndReferencesAreCheckedWithNovasMessages() async throws {
            try await OpenStackPeer.with { peer in
                let token = try await peer.token()
                let network = try await peer.networkID("private", token: token)
                let external = try await peer.networkID("public", token: token)
                func refusal(_ body: [String: Any], microversion: String? = nil) async throws -> (Int, String?) {
                    let response = try await peer.nova("POST", "/servers", json: body, token: token, microversion: microversion)
                    return (response.status, response.novaFault?.message)
                }
                var missing = serverBody("x")
                missing["server"] = ["flavorRef": "2", "imageRef": Fixture.debian]
                let noName = try await refusal(missing)
                #expect(noName.0 == 400)
                #expect(noName.1?.hasPrefix("Invalid input for field/attribute server. Value: {") == true)
                #expect(noName.1?.hasSuffix("}. 'name' is a required property") == true)
                #expect(try await refusal(["server": ["name": "x", "imageRef": Fixture.debian]]).1?
                    .hasSuffix("'flavorRef' is a required property") == true)
                #expect(try await refusal(["servers": []]) == (400, "'server' is a required property"))
                #expect(try await refusal(serverBody("x", image: nil)) == (400, "Missing imageRef attribute"))
                #expect(try await refusal(serverBody("x", image: "debian-12")) == (400, "Invalid input for field/attribute imageRef. "
                    + "Value: debian-12. 'debian-12' is not valid under any of the given schemas"))
                #expect(try await refusal(serverBody("x", flavor: "99")) == (400, "Flavor 99 could not be found."))
                #expect(try await refusal(serverBody("x", image: "11111111-2222-3333-4444-555555555555"))
                    == (400, "Can not find requested image"))
                #expect(try await refusal(serverBody("x", extra: ["networks": [["uuid": "11111111-2222-3333-4444-555555555555"]]]))
                    == (400, "Network 11111111-2222-3333-4444-555555555555 could not be found."))
                #expect(try await refusal(serverBody("x", extra: ["networks": [["fixed_ip": "10.0.0.50"]]]))
                    == (400, "Bad network format: missing 'uuid'"))
                #expect(try await refusal(serverBody("x", extra: ["networks": [["uuid": external]]]))
                    == (403, "It is not allowed to create an interface on external network \(external)"))
                #expect(try await refusal(serverBody("x", extra: ["key_name": "nobody's"])) == (400, "Invalid key_name provided."))
                #expect(try await refusal(serverBody("x", extra: ["security_groups": [["name": "nope"]]]))
                    == (400, "Unable to find security_group with name or id 'nope'"))
                #expect(try await refusal(serverBody("x", extra: ["availability_zone": "moon"]))
                    == (400, "The requested availability zone is not available"))
                #expect(try await refusal(serverBody("x", extra: ["metadata": ["cloudc-node": 3]]))
                    == (400, "Invalid input for field/attribute cloudc-node. Value: 3. 3 is not of type 'string'"))
                let long = String(repeating: "a", count: 256)
                #expect(try await refusal(serverBody("x", extra: ["metadata": ["k": long]]))
                    == (400, "Invalid input for field/attribute k. Value: \(long). '\(long)' is too long"))
                #expect(try await refusal(serverBody("x", extra: ["metadata": ["a/b": "c"]])).1?
                    .hasSuffix("'a/b' does not match any of the regexes: '^[a-zA-Z0-9-_:. ]{1,255}$'") == true)
                // From 2.37 on, networks is required.
                #expect(try await refusal(serverBody("x"), microversion: "2.37").1?.hasSuffix("'networks' is a required property") == true)
                #expect(try await refusal(serverBody("x", extra: ["networks": [["uuid": network]]]), microversion: "9.9").0 == 406)

                let state = try await peer.state()
                #expect(state.servers.isEmpty)
                #expect(state.serverCreates == 0)
            }
        }

        @Test func aValidCreateGoesFromBuildToActiveWithItsAddressesAndPort() async throws {
            // BUILD lasts 6 s, addresses come at 3 s: room for a loaded machine between the create and the first GET.
            try await OpenStackPeer.with(buildSeconds: 6.0) { peer in
                let token = try await peer.token()
                let network = try await peer.networkID("private", token: token)
                let imported = try await peer.nova("POST", "/os-keypairs", json: ["keypair": ["name": "cloudc-c1", "public_key": Fixture.publicKey]],
                                                   token: token)
                #expect(imported.status == 200, "\(imported.text)")
                let group = try await peer.neutron("POST", "/security-groups", json: ["security_group": ["name": "cloudc-c1"]], token: token)
                #expect(group.status == 201)
                let metadata = ["cloudc-cluster": "c1", "cloudc-node": "c1-compute-001", "cloudc-group": "compute"]
                let response = try await peer.nova("POST", "/servers", json: serverBody("c1-compute-001", flavor: "4", extra: [
                    "key_name": "cloudc-c1", "metadata": metadata, "networks": [["uuid": network]],
                    "security_groups": [["name": "cloudc-c1"]], "availability_zone": "az2",
                ]), token: token)
                #expect(response.status == 202, "\(response.text)")
                let created = try #require(response.json?["server"] as? [String: Any])
                let id = try #require(created["id"] as? String)
                #expect(response.header("Location") == "\(peer.peerURL)/public/compute/v2.1/servers/\(id)")
                #expect((created["adminPass"] as? String)?.isEmpty == false)
                #expect(created["security_groups"] as? [[String: String]] == [["name": "cloudc-c1"]])

                let building = try #require(try await peer.nova("GET", "/servers/\(id)", token: token).json?["server"] as? [String: Any])
                #expect(building["status"] as? String == "BUILD")
                #expect(building["OS-EXT-STS:task_state"] as? String == "spawning")
                // Early in BUILD, before Neutron's port is bound, Nova shows no addresses yet.
                #expect((building["addresses"] as? [String: Any])?.isEmpty == true, "\(building["addresses"] ?? "none")")
                let server = try await peer.waitForStatus(id, "ACTIVE", token: token)
                #expect(server["metadata"] as? [String: String] == metadata)
                #expect(server["key_name"] as? String == "cloudc-c1")
                #expect(server["OS-EXT-AZ:availability_zone"] as? String == "az2")
                #expect((server["flavor"] as? [String: Any])?["id"] as? String == "4")
                #expect((server["image"] as? [String: Any])?["id"] as? String == Fixture.debian)
                let addresses = try #require((server["addresses"] as? [String: Any])?["private"] as? [[String: Any]])
                #expect(addresses.count == 1)
                #expect(addresses.first?["OS-EXT-IPS:type"] as? String == "fixed")
                #expect(addresses.first?["version"] as? Int == 4)
                let ip = try #require(addresses.first?["addr"] as? String)
                #expect(ip.hasPrefix("10.0.0."))

                // Neutron has its port: on the network, owned by the server, with its groups and address.
                let ports = try #require(try await peer.neutron("GET", "/ports?device_id=\(id)", token: token).json?["ports"] as? [[String: Any]])
                #expect(ports.count == 1)
                #expect(ports.first?["device_owner"] as? String == "compute:az2")
                #expect(ports.first?["network_id"] as? String == network)
                #expect((ports.first?["fixed_ips"] as? [[String: Any]])?.first?["ip_address"] as? String == ip)
                #expect(ports.first?["security_groups"] as? [String] == [try #require((group.json?["security_group"] as? [String: Any])?["id"] as? String)])

                let state = try await peer.state()
                let recorded = try #require(state.server("c1-compute-001"))
                #expect(recorded.id == id)
                #expect(recorded.status == "ACTIVE")
                #expect(recorded.metadata == metadata)
                #expect(recorded.flavorID == "4")
                #expect(recorded.imageID == Fixture.debian)
                #expect(recorded.keyName == "cloudc-c1")
                #expect(recorded.securityGroups == ["cloudc-c1"])
                #expect(recorded.networks == ["private"])
                #expect(recorded.availabilityZone == "az2")
                #expect(recorded.bootVolumeSize == nil)
                #expect(recorded.fixedIP == ip)
                #expect(recorded.floatingIP == nil)
                #expect(recorded.fault == nil)
                #expect(recorded.projectID == peer.projectID)
                #expect(state.serverCreates == 1)
            }
        }

        @Test func everyAnswerHasExactlyTheKeysOfNovasSampleForItsMicroversion() async throws {
            try await OpenStackPeer.with(buildSeconds: 0.1) { peer in
                let token = try await peer.token()
                for microversion in ["2.1", "2.47", "2.79", "2.100"] {
                    let name = "k" + microversion.replacingOccurrences(of: ".", with: "")
                    let keypair = try await peer.nova("POST", "/os-keypairs", json: ["keypair": ["name": name, "public_key": Fixture.publicKey]],
                                                      token: token, microversion: microversion)
                    #expect(keypair.status == (microversion == "2.1" ? 200 : 201))
                    let importSample = try OpenStackPeer.novaSample(samplePath("os-keypairs", "keypairs-import-post-resp.json.tpl", microversion: microversion))
                    #expect(keys(keypair.json?["keypair"]) == keys(importSample["keypair"]), "keypair import at \(microversion)")

                    let get = try await peer.nova("GET", "/os-keypairs/\(name)", token: token, microversion: microversion)
                    let getSample = try OpenStackPeer.novaSample(samplePath("os-keypairs", "keypairs-get-resp.json.tpl", microversion: microversion))
                    #expect(keys(get.json?["keypair"]) == keys(getSample["keypair"]), "keypair get at \(microversion)")

                    let list = try await peer.nova("GET", "/os-keypairs", token: token, microversion: microversion)
                    let listSample = try OpenStackPeer.novaSample(samplePath("os-keypairs", "keypairs-list-resp.json.tpl", microversion: microversion))
                    let item = (list.json?["keypairs"] as? [[String: Any]])?.first
                    let sampleItem = (listSample["keypairs"] as? [[String: Any]])?.first
                    #expect(keys(item) == ["keypair"])
                    #expect(keys(item?["keypair"]) == keys(sampleItem?["keypair"]), "keypair list at \(microversion)")

                    let flavor = try await peer.nova("GET", "/flavors/gpu-t4", token: token, microversion: microversion)
                    let flavorSample = try OpenStackPeer.novaSample(samplePath("flavors", "flavor-get-resp.json.tpl", microversion: microversion))
                    #expect(keys(flavor.json?["flavor"]) == keys(flavorSample["flavor"]), "flavor get at \(microversion)")
                    let detail = try await peer.nova("GET", "/flavors/detail", token: token, microversion: microversion)
                    let detailSample = try OpenStackPeer.novaSample(samplePath("flavors", "flavors-detail-resp.json.tpl", microversion: microversion))
                    for each in (detail.json?["flavors"] as? [[String: Any]]) ?? [] {
                        #expect(keys(each) == keys((detailSample["flavors"] as? [[String: Any]])?.first), "flavors/detail at \(microversion)")
                    }

                    // From 2.37 on, networks is required.
                    let body = microversion == "2.1" ? serverBody("keys-\(name)") : serverBody("keys-\(name)", extra: ["networks": "auto"])
                    let create = try await peer.nova("POST", "/servers", json: body, token: token, microversion: microversion)
                    #expect(create.status == 202, "\(create.text)")
                    let createSample = try OpenStackPeer.novaSample(samplePath("servers", "server-create-resp.json.tpl", microversion: microversion))
                    #expect(keys(create.json?["server"]) == keys(createSample["server"]), "server create at \(microversion)")
                    let id = try #require((create.json?["server"] as? [String: Any])?["id"] as? String)
                    _ = try await peer.waitForStatus(id, "ACTIVE", token: token)

                    let server = try await peer.nova("GET", "/servers/\(id)", token: token, microversion: microversion)
                    let serverSample = try OpenStackPeer.novaSample(samplePath("servers", "server-get-resp.json.tpl", microversion: microversion))
                    let got = try #require(server.json?["server"] as? [String: Any])
                    let expected = try #require(serverSample["server"] as? [String: Any])
                    #expect(keys(got) == keys(expected), "server get at \(microversion)")
                    #expect(keys(got["flavor"]) == keys(expected["flavor"]), "server get's flavor at \(microversion)")
                    #expect(keys(got["image"]) == keys(expected["image"]))
                    let address = ((got["addresses"] as? [String: Any])?["private"] as? [[String: Any]])?.first
                    let sampleAddress = ((expected["addresses"] as? [String: Any])?["private"] as? [[String: Any]])?.first
                    #expect(keys(address) == keys(sampleAddress), "addresses at \(microversion)")

                    let details = try await peer.nova("GET", "/servers/detail?name=^keys-\(name)$", token: token, microversion: microversion)
                    let detailsSample = try OpenStackPeer.novaSample(samplePath("servers", "servers-details-resp.json.tpl", microversion: microversion))
                    let listed = try #require((details.json?["servers"] as? [[String: Any]])?.first)
                    #expect(keys(listed) == keys((detailsSample["servers"] as? [[String: Any]])?.first), "servers/detail at \(microversion)")
                    let brief = try await peer.nova("GET", "/servers?name=^keys-\(name)$", token: token, microversion: microversion)
                    let briefSample = try OpenStackPeer.novaSample(samplePath("servers", "servers-list-resp.json.tpl", microversion: microversion))
                    #expect(keys((brief.json?["servers"] as? [[String: Any]])?.first) == keys((briefSample["servers"] as? [[String: Any]])?.first))
                    // The answer says which microversion it is.
                    #expect(server.header("OpenStack-API-Version") == "compute \(microversion)")
                }
            }
        }

        @Test func bootFromVolumeTakesItsSizeFromTheBlockDeviceMapping() async throws {
            try await OpenStackPeer.with(buildSeconds: 0.1) { peer in
                let token = try await peer.token()
                let mapping: [String: Any] = ["boot_index": 0, "uuid": Fixture.ubuntu, "source_type": "image",
                                              "destination_type": "volume", "volume_size": "30", "delete_on_termination": true]
                let id = try await peer.createServer(serverBody("bfv", flavor: "gpu-t4", image: nil, extra: ["block_device_mapping_v2": [mapping]]),
                                                     token: token)
                let server = try await peer.waitForStatus(id, "ACTIVE", token: token)
                #expect(server["image"] as? String == "")  // as Nova shows a server booted from a volume
                #expect((server["os-extended-volumes:volumes_attached"] as? [[String: Any]])?.count == 1)
                let recorded = try #require(try await peer.state().server("bfv"))
                #expect(recorded.bootVolumeSize == 30)
                #expect(recorded.imageID == Fixture.ubuntu)
                #expect(recorded.flavorID == "gpu-t4")

                var bad = mapping
                bad["volume_size"] = "thirty"
                let refused = try await peer.nova("POST", "/servers", json: serverBody("bfv2", image: nil, extra: ["block_device_mapping_v2": [bad]]),
                                                  token: token)
                #expect(refused.novaFault?.message == "Invalid input for field/attribute volume_size. Value: thirty. 'thirty' does not match '^[0-9]+$'")
                bad["volume_size"] = 1
                let small = try await peer.nova("POST", "/servers", json: serverBody("bfv3", image: nil, extra: ["block_device_mapping_v2": [bad]]),
                                                token: token)
                #expect(small.novaFault?.message == "Volume is smaller than the minimum size specified in image metadata. "
                    + "Volume size is 1073741824 bytes, minimum size is 3221225472 bytes.")
            }
        }

        @Test func anInjectedFaultPutsTheServerIntoErrorWithNovasFault() async throws {
            try await OpenStackPeer.with(buildSeconds: 0.2) { peer in
                let token = try await peer.token()
                try await peer.injectFault(nameContains: "gpu001", message: Fixture.noValidHost)
                let failing = try await peer.createServer(serverBody("c1-gpu001", flavor: "gpu-t4"), token: token)
                let fine = try await peer.createServer(serverBody("c1-compute001"), token: token)
                let server = try await peer.waitForStatus(failing, "ERROR", token: token)
                let fault = try #require(server["fault"] as? [String: Any])
                #expect(fault["code"] as? Int == 500)
                #expect(fault["message"] as? String == Fixture.noValidHost)
                #expect((fault["created"] as? String)?.hasSuffix("Z") == true)
                #expect(fault["details"] is String)
                #expect(server["OS-EXT-STS:vm_state"] as? String == "error")
                #expect((server["addresses"] as? [String: Any])?.isEmpty == true)
                _ = try await peer.waitForStatus(fine, "ACTIVE", token: token)

                let errors = try await peer.nova("GET", "/servers/detail?status=ERROR", token: token)
                #expect(((errors.json?["servers"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String } == ["c1-gpu001"])
                let state = try await peer.state()
                #expect(state.server("c1-gpu001")?.status == "ERROR")
                #expect(state.server("c1-gpu001")?.fault == Fixture.noValidHost)
                #expect(state.server("c1-gpu001")?.fixedIP == nil)
                #expect(state.server("c1-compute001")?.fault == nil)
            }
        }

        @Test func quotaRefusalsHaveNovasShapes() async throws {
            try await OpenStackPeer.with(buildSeconds: 0.05) { peer in
                let token = try await peer.token()
                try await peer.injectQuota(status: 403)
                let forbidden = try await peer.nova("POST", "/servers", json: serverBody("q1"), token: token)
                #expect(forbidden.status == 403)
                #expect(forbidden.novaFault?.name == "forbidden")
                #expect(forbidden.novaFault?.code == 403)
                #expect(forbidden.novaFault?.message == "Quota exceeded for instances: Requested 1, but already used 0 of 10 instances")
                try await peer.injectQuota(status: 413, count: 2)
                for _ in 0..<2 {
                    let over = try await peer.nova("POST", "/servers", json: serverBody("q1"), token: token)
                    #expect(over.status == 413)
                    #expect(over.novaFault?.name == "overLimit")
                    #expect(over.novaFault?.code == 413)
                    #expect(over.novaFault?.message?.hasPrefix("Quota exceeded for instances: ") == true)
                }
                #expect(try await peer.state().serverCreates == 0)

                // The real limit: ten instances a project.
                for index in 1...10 {
                    _ = try await peer.createServer(serverBody("q\(index)"), token: token)
                }
                let eleventh = try await peer.nova("POST", "/servers", json: serverBody("q11"), token: token)
                #expect(eleventh.status == 403)
                #expect(eleventh.novaFault?.message == "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances")
                #expect(try await peer.state().serverCreates == 10)
                // /limits says so, in the sample's shape.
                let limits = try #require(try await peer.nova("GET", "/limits", token: token).json?["limits"] as? [String: Any])
                let absolute = try #require(limits["absolute"] as? [String: Any])
                #expect(absolute["maxTotalInstances"] as? Int == 10)
                #expect(absolute["totalInstancesUsed"] as? Int == 10)
                #expect(absolute["totalCoresUsed"] as? Int == 10)
                let sample = try OpenStackPeer.novaSample(samplePath("limits", "limit-get-resp.json.tpl"))
                #expect(keys(absolute) == keys((sample["limits"] as? [String: Any])?["absolute"]))
            }
        }

        @Test func keypairsAreImportedOnceCheckedAndDeleted() async throws {
            try await OpenStackPeer.with { peer in
                let token = try await peer.token()
                let imported = try await peer.nova("POST", "/os-keypairs", json: ["keypair": ["name": "cloudc-c1", "public_key": Fixture.publicKey]],
                                                   token: token)
                #expect(imported.status == 200)
                let keypair = try #require(imported.json?["keypair"] as? [String: Any])
                #expect(keypair["public_key"] as? String == Fixture.publicKey)
                #expect((keypair["fingerprint"] as? String)?.split(separator: ":").count == 16)
                #expect(keypair["user_id"] as? String == peer.userID)

                let again = try await peer.nova("POST", "/os-keypairs", json: ["keypair": ["name": "cloudc-c1", "public_key": Fixture.publicKey]],
                                                token: token)
                #expect(again.status == 409)
                #expect(again.novaFault?.name == "conflictingRequest")
                #expect(again.novaFault?.message == "Key pair 'cloudc-c1' already exists.")
                let garbage = try await peer.nova("POST", "/os-keypairs", json: ["keypair": ["name": "other", "public_key": "ssh-ed25519 bm90IGEga2V5"]],
                                                  token: token)
                #expect(garbage.status == 400)
                #expect(garbage.novaFault?.message == "Keypair data is invalid: failed to generate fingerprint")
                let badName = try await peer.nova("POST", "/os-keypairs", json: ["keypair": ["name": "a/b", "public_key": Fixture.publicKey]],
                                                  token: token)
                #expect(badName.novaFault?.message == #"Invalid input for field/attribute name. Value: a/b. 'a/b' does not match '^[_\\- a-zA-Z0-9]+$'"#)
                #expect(try await peer.nova("POST", "/os-keypairs", json: ["keypair": ["public_key": Fixture.publicKey]], token: token)
                    .novaFault?.message?.hasSuffix("'name' is a required property") == true)

                let listed = try await peer.nova("GET", "/os-keypairs", token: token)
                #expect(((listed.json?["keypairs"] as? [[String: Any]]) ?? []).compactMap { ($0["keypair"] as? [String: Any])?["name"] as? String }
                    == ["cloudc-c1"])
                #expect(try await peer.state().keypairs.map(\.name) == ["cloudc-c1"])
                #expect(try await peer.state().keypairs.first?.publicKey == Fixture.publicKey)

                #expect(try await peer.nova("DELETE", "/os-keypairs/cloudc-c1", token: token).status == 202)
                let gone = try await peer.nova("DELETE", "/os-keypairs/cloudc-c1", token: token)
                #expect(gone.status == 404)
                #expect(gone.novaFault?.message == "Keypair cloudc-c1 not found for user \(peer.userID)")
                #expect(try await peer.nova("GET", "/os-keypairs/cloudc-c1", token: token).status == 404)
                // From 2.2 on, an import is 201 and a delete 204.
                #expect(try await peer.nova("POST", "/os-keypairs", json: ["keypair": ["name": "k2", "public_key": Fixture.publicKey, "type": "ssh"]],
                                            token: token, microversion: "2.2").status == 201)
                #expect(try await peer.nova("DELETE", "/os-keypairs/k2", token: token, microversion: "2.2").status == 204)
                #expect(try await peer.state().keypairs.isEmpty)
            }
        }

        @Test func flavorsTheirExtraSpecsAndTheZones() async throws {
            try await OpenStackPeer.with { peer in
                let token = try await peer.token()
                let detail = try await peer.nova("GET", "/flavors/detail", token: token)
                let flavors = try #require(detail.json?["flavors"] as? [[String: Any]])
                #expect(flavors.compactMap { $0["name"] as? String } == ["m1.small", "m1.large", "g1.t4"])
                let gpu = try #require(flavors.first { $0["id"] as? String == "gpu-t4" })
                #expect(gpu["vcpus"] as? Int == 8)
                #expect(gpu["ram"] as? Int == 32768)
                #expect(gpu["disk"] as? Int == 100)
                let specs = try await peer.nova("GET", "/flavors/gpu-t4/os-extra_specs", token: token)
                #expect(specs.json?["extra_specs"] as? [String: String] == ["pci_passthrough:alias": "nvidia-t4:1", "hw:cpu_policy": "dedicated"])
                let missing = try await peer.nova("GET", "/flavors/m1.huge", token: token)
                #expect(missing.status == 404)
                #expect(missing.novaFault?.name == "itemNotFound")
                #expect(missing.novaFault?.message == "Flavor m1.huge could not be found.")
                let zones = try await peer.nova("GET", "/os-availability-zone", token: token)
                #expect(((zones.json?["availabilityZoneInfo"] as? [[String: Any]]) ?? []).compactMap { $0["zoneName"] as? String } == ["nova", "az2"])
            }
        }

        @Test func listsFilterByNameRegexAndStatus() async throws {
            try await OpenStackPeer.with(buildSeconds: 0.1) { peer in
                let token = try await peer.token()
                for name in ["c1-frontend", "c1-compute-001", "c1-compute-002", "c2-compute-001"] {
                    _ = try await peer.createServer(serverBody(name), token: token)
                }
                func names(_ query: String) async throws -> [String] {
                    let response = try await peer.nova("GET", "/servers/detail?\(query)", token: token)
                    return ((response.json?["servers"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }.sorted()
                }
                #expect(try await names("name=c1-compute") == ["c1-compute-001", "c1-compute-002"])
                #expect(try await names("name=^c1-") == ["c1-compute-001", "c1-compute-002", "c1-frontend"])
                #expect(try await names("name=compute-00%5B2%5D$") == ["c1-compute-002"])
                try await waitUntil("all 4 servers ACTIVE", seconds: 20) { try await names("status=ACTIVE").count == 4 }
                #expect(try await names("status=BUILD").isEmpty)
                let brief = try await peer.nova("GET", "/servers?name=c2", token: token)
                #expect(((brief.json?["servers"] as? [[String: Any]]) ?? []).map { keys($0) } == [["id", "links", "name"]])
            }
        }

        @Test func aDeletedServerIsGoneAfterBuildSecondsWithItsPortsAndItsFloatingIPLetGo() async throws {
            try await OpenStackPeer.with(buildSeconds: 0.3) { peer in
                let token = try await peer.token()
                let id = try await peer.createServer(serverBody("c1-frontend"), token: token)
                _ = try await peer.waitForStatus(id, "ACTIVE", token: token)
                let port = try #require((try await peer.neutron("GET", "/ports?device_id=\(id)", token: token)
                    .json?["ports"] as? [[String: Any]])?.first?["id"] as? String)
                let external = try await peer.networkID("public", token: token)
                let fip = try await peer.neutron("POST", "/floatingips", json: ["floatingip": [
                    "floating_network_id": external, "port_id": port, "description": "cloudc-c1"]], token: token)
                #expect(fip.status == 201)
                let fipID = try #require((fip.json?["floatingip"] as? [String: Any])?["id"] as? String)

                let delete = try await peer.nova("DELETE", "/servers/\(id)", token: token)
                #expect(delete.status == 204)
                #expect(delete.body.isEmpty)
                let deleting = try #require(try await peer.nova("GET", "/servers/\(id)", token: token).json?["server"] as? [String: Any])
                // As Nova: the status and vm_state it had, task_state `deleting`, until it is gone.
                #expect(deleting["status"] as? String == "ACTIVE")
                #expect(deleting["OS-EXT-STS:vm_state"] as? String == "active")
                #expect(deleting["OS-EXT-STS:task_state"] as? String == "deleting")
                // A second delete while it goes is accepted, as Nova accepts it.
                #expect(try await peer.nova("DELETE", "/servers/\(id)", token: token).status == 204)

                try await waitUntil("the deleted server to be gone", seconds: 20) {
                    try await peer.nova("GET", "/servers/\(id)", token: token).status == 404
                }
                let gone = try await peer.nova("GET", "/servers/\(id)", token: token)
                #expect(gone.status == 404)
                #expect(gone.novaFault?.name == "itemNotFound")
                #expect(gone.novaFault?.message == "Instance \(id) could not be found.")
                let deleteAgain = try await peer.nova("DELETE", "/servers/\(id)", token: token)
                #expect(deleteAgain.status == 404)
                #expect(deleteAgain.novaFault?.message == "Instance could not be found")

                let ports = try await peer.neutron("GET", "/ports?device_id=\(id)", token: token)
                #expect((ports.json?["ports"] as? [[String: Any]])?.isEmpty == true)
                let released = try #require(try await peer.neutron("GET", "/floatingips/\(fipID)", token: token).json?["floatingip"] as? [String: Any])
                #expect(released["port_id"] is NSNull)
                #expect(released["fixed_ip_address"] is NSNull)
                #expect(released["status"] as? String == "DOWN")
                let state = try await peer.state()
                #expect(state.servers.isEmpty)
                #expect(state.ports.isEmpty)
                #expect(state.floatingIPs.first?.portID == nil)
                #expect(state.floatingIPs.first?.description == "cloudc-c1")
            }
        }
    
        /// os-getConsoleOutput answers with the keys of Nova's sample and the server's console, where
        /// cloud-init printed its host keys; Nova's schema and its 409 for a server not yet on a host.
        @Test func theConsoleOutputActionShowsTheServersHostKeys() async throws {
            try await OpenStackPeer.with(buildSeconds: 0.5) { peer in
                let token = try await peer.token()
                let id = try await peer.createServer(serverBody("c1-frontend-001"), token: token)
                let early = try await peer.nova("POST", "/servers/\(id)/action", json: ["os-getConsoleOutput": [:]], token: token)
                #expect(early.status == 409 && keys(early.json) == ["conflictingRequest"], "\(early.text)")
                _ = try await peer.waitForStatus(id, "ACTIVE", token: token)

                let answer = try await peer.nova("POST", "/servers/\(id)/action", json: ["os-getConsoleOutput": [:]], token: token)
                #expect(answer.status == 200, "\(answer.text)")
                #expect(keys(answer.json) == keys(try OpenStackPeer.novaSample("os-console-output/console-output-post-resp.json.tpl")))
                let console = try #require(answer.json?["output"] as? String)
                let recorded = try #require(try await peer.state().server("c1-frontend-001"))
                #expect(!recorded.hostKeys.isEmpty)
                for key in recorded.hostKeys { #expect(console.contains("\n\(key) root@c1-frontend-001\n"), "\(console)") }
                #expect(console.contains("-----BEGIN SSH HOST KEY KEYS-----") && console.contains("-----END SSH HOST KEY KEYS-----"))

                let tail = try await peer.nova("POST", "/servers/\(id)/action", json: ["os-getConsoleOutput": ["length": 2]], token: token)
                #expect((tail.json?["output"] as? String)?.split(separator: "\n", omittingEmptySubsequences: false).count == 2, "\(tail.text)")
                for bad: Any in [["length": -2], ["length": "x"], ["lines": 3]] {
                    let refused = try await peer.nova("POST", "/servers/\(id)/action", json: ["os-getConsoleOutput": bad], token: token)
                    #expect(refused.status == 400 && keys(refused.json) == ["badRequest"], "\(bad): \(refused.text)")
                }
                let unknown = try await peer.nova("POST", "/servers/\(id)/action", json: ["os-fly": [:]], token: token)
                #expect(unknown.status == 400 && unknown.text.contains("There is no such action: os-fly"), "\(unknown.text)")
                let missing = try await peer.nova("POST", "/servers/00000000-0000-0000-0000-000000000000/action",
                                                  json: ["os-getConsoleOutput": [:]], token: token)
                #expect(missing.status == 404)
            }
        }
    }
}

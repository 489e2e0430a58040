import Foundation
import Testing
import TestSupport

extension OpenStackPeerTests {
    /// Keystone is the real one (keystone 30.0.0), with the catalog the harness registered; the
    /// peer accepts only what it validates.
    @Suite struct Identity {
        @Test func passwordAuthGivesAProjectTokenWhoseCatalogHasEveryServiceAndRegion() async throws {
            try await OpenStackPeer.with { peer in
                let response = try await peer.passwordAuth()
                #expect(response.status == 201, "\(response.text)")
                #expect(response.header("X-Subject-Token")?.isEmpty == false)
                let token = try #require(response.json?["token"] as? [String: Any])
                #expect((token["project"] as? [String: Any])?["name"] as? String == "research")
                #expect((token["project"] as? [String: Any])?["id"] as? String == peer.projectID)
                #expect((token["user"] as? [String: Any])?["id"] as? String == peer.userID)
                let roles = ((token["roles"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }
                #expect(roles.contains("member"))
                #expect(!roles.contains("admin"))

                // service type → "interface region url" for every endpoint.
                var catalog: [String: Set<String>] = [:]
                for service in (token["catalog"] as? [[String: Any]]) ?? [] {
                    let type = try #require(service["type"] as? String)
                    for endpoint in (service["endpoints"] as? [[String: Any]]) ?? [] {
                        let line = "\(endpoint["interface"] as? String ?? "") \(endpoint["region_id"] as? String ?? "") \(endpoint["url"] as? String ?? "")"
                        catalog[type, default: []].insert(line)
                    }
                }
                #expect(catalog["identity"] == ["public RegionOne \(peer.authURL)", "internal RegionOne \(peer.authURL)",
                                                "admin RegionOne \(peer.authURL)"])
                for (type, path) in [("compute", "compute/v2.1"), ("network", "network"), ("image", "image")] {
                    #expect(catalog[type] == [
                        "public RegionOne \(peer.peerURL)/public/\(path)",
                        "internal RegionOne \(peer.peerURL)/internal/\(path)",
                        "public RegionTwo \(peer.peerURL)/region-two/\(path)",
                    ], "\(type): \(catalog[type] ?? [])")
                }
                // A start is quick enough for every test to have its own (a bound, not a timing).
                #expect(peer.startSeconds < 30, "start took \(peer.startSeconds) s")
            }
        }

        @Test func aWrongPasswordOrUnknownUserIsKeystonesOwn401() async throws {
            try await OpenStackPeer.with { peer in
                for response in [try await peer.passwordAuth(password: "not-the-password"),
                                 try await peer.passwordAuth(username: "nobody"),
                                 try await peer.passwordAuth(password: "not-the-password", project: nil)] {
                    #expect(response.status == 401)
                    #expect(response.header("X-Subject-Token") == nil)
                    let error = try #require(response.json?["error"] as? [String: Any])
                    #expect(error["code"] as? Int == 401)
                    #expect(error["title"] as? String == "Unauthorized")
                    #expect(error["message"] as? String == "The request you have made requires authentication.")
                    #expect(response.header("WWW-Authenticate")?.hasPrefix("Keystone uri=") == true)
                }
                // The right password still works: a wrong one locks nothing.
                #expect(try await peer.passwordAuth().status == 201)
            }
        }

        @Test func anApplicationCredentialGivesAResearchTokenThatOpensThePeer() async throws {
            try await OpenStackPeer.with { peer in
                let response = try await peer.applicationCredentialAuth()
                #expect(response.status == 201, "\(response.text)")
                let token = try #require(response.header("X-Subject-Token"))
                let body = try #require(response.json?["token"] as? [String: Any])
                #expect(body["methods"] as? [String] == ["application_credential"])
                #expect((body["project"] as? [String: Any])?["id"] as? String == peer.projectID)
                #expect((body["application_credential"] as? [String: Any])?["id"] as? String == peer.applicationCredentialID)
                #expect(try await peer.nova("GET", "/servers", token: token).status == 200)

                let wrong = try await peer.applicationCredentialAuth(secret: "not-the-secret")
                #expect(wrong.status == 401)
                #expect((wrong.json?["error"] as? [String: Any])?["code"] as? Int == 401)
            }
        }

        @Test func aTokenKeystoneDoesNotValidateIsRefusedAsKeystonemiddlewareDoesAndCounted() async throws {
            try await OpenStackPeer.with { peer in
                let madeUp = "gAAAAABmadeUpTokenThatKeystoneNeverIssued0123456789"
                let refusals = [
                    try await peer.nova("GET", "/servers", token: madeUp),
                    try await peer.neutron("GET", "/networks", token: madeUp),
                    try await peer.glance("GET", "/images", token: madeUp),
                    try await peer.api("compute", "GET", "/flavors", token: nil),
                ]
                for response in refusals {
                    #expect(response.status == 401)
                    let error = try #require(response.json?["error"] as? [String: Any])
                    #expect(error["code"] as? Int == 401)
                    #expect(error["title"] as? String == "Unauthorized")
                    #expect(error["message"] as? String == "The request you have made requires authentication.")
                    #expect(response.header("WWW-Authenticate") == "Keystone uri=\"http://127.0.0.1:\(peer.keystonePort)\"")
                }
                var state = try await peer.state()
                #expect(state.rejectedTokens == 4)

                // A real token works; once Keystone revokes it, the peer refuses it too (its cache is two seconds).
                let token = try await peer.token()
                #expect(try await peer.nova("GET", "/servers", token: token).status == 200)
                let revoke = try await peer.send("DELETE", peer.authURL + "/auth/tokens",
                                                 headers: ["X-Auth-Token": token, "X-Subject-Token": token])
                #expect(revoke.status == 204, "\(revoke.text)")
                // Refused once the peer's two-second cache of Keystone's answer runs out.
                try await waitUntil("the revoked token to be refused", seconds: 20, interval: 0.5) {
                    try await peer.nova("GET", "/servers", token: token).status == 401
                }
                state = try await peer.state()
                #expect(state.rejectedTokens == 5)
            }
        }

        @Test func eachEndpointOfTheCatalogIsServedAndCountedApart() async throws {
            try await OpenStackPeer.with { peer in
                let token = try await peer.token()
                #expect(try await peer.nova("GET", "/flavors", token: token).status == 200)
                #expect(try await peer.nova("GET", "/flavors", token: token, label: "internal").status == 200)
                #expect(try await peer.nova("GET", "/flavors", token: token, label: "internal").status == 200)
                #expect(try await peer.api("network", "GET", "/v2.0/networks", token: token, label: "region-two").status == 200)
                let state = try await peer.state()
                #expect(state.requests == ["public": 1, "internal": 2, "region-two": 1])
                // Links name the endpoint that was asked.
                let flavors = try await peer.nova("GET", "/flavors/2", token: token, label: "internal")
                let links = ((flavors.json?["flavor"] as? [String: Any])?["links"] as? [[String: Any]]) ?? []
                #expect(links.first?["href"] as? String == "\(peer.peerURL)/internal/compute/v2.1/flavors/2")
            }
        }

        @Test func cloudsYAMLNamesTheCloudForPasswordOrApplicationCredential() async throws {
            try await OpenStackPeer.with { peer in
                let password = peer.cloudsYAML()
                #expect(password.hasPrefix("clouds:\n  testcloud:\n"))
                for line in ["auth_url: \(peer.authURL)", "username: \"researcher\"", "password: \"\(peer.password)\"",
                             "project_name: \"research\"", "user_domain_name: \"Default\"", "project_domain_name: \"Default\"",
                             "region_name: RegionOne", "interface: public", "identity_api_version: 3"] {
                    #expect(password.contains(line), "\(line) not in\n\(password)")
                }
                #expect(!password.contains("application_credential"))
                let credential = peer.cloudsYAML(name: "uni", applicationCredential: true)
                #expect(credential.hasPrefix("clouds:\n  uni:\n"))
                for line in ["auth_type: v3applicationcredential", "application_credential_id: \"\(peer.applicationCredentialID)\"",
                             "application_credential_secret: \"\(peer.applicationCredentialSecret)\"", "region_name: RegionOne"] {
                    #expect(credential.contains(line), "\(line) not in\n\(credential)")
                }
                #expect(!credential.contains("password:"))
            }
        }
    }
}

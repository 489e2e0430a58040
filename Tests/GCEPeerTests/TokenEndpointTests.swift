import Foundation
import Testing
import TestSupport

/// The peer's OAuth token endpoint answers as Google's does.
@Suite(.serialized, .timeLimit(.minutes(2)), .needsPeer)
struct TokenEndpointTests {
    static let jwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

    @Test func aJWTSignedWithTheRegisteredKeyGetsABearerToken() async throws {
        try await GCEPeer.with { peer in
            let response = try await peer.tokenRequest(["grant_type": Self.jwtBearer, "assertion": try await peer.assertion()])
            #expect(response.status == 200, "\(response.text)")
            let json = try #require(response.json)
            #expect(json["token_type"] as? String == "Bearer")
            #expect((json["access_token"] as? String)?.hasPrefix("ya29.") == true)
            #expect(json["expires_in"] as? Int == 3599)
            // The token opens the Compute API.
            let token = try #require(json["access_token"] as? String)
            #expect(try await peer.compute("GET", "zones/us-central1-a", token: token).status == 200)
            #expect(try await peer.state().counts["token_grants"] == 1)
        }
    }

    @Test func anotherKeyForTheSameAccountIsAnInvalidJWTSignature() async throws {
        try await GCEPeer.with { peer in
            let response = try await peer.tokenRequest([
                "grant_type": Self.jwtBearer, "assertion": try await peer.assertion(keyFile: peer.wrongKeyCredentialsPath),
            ])
            #expect(response.status == 400)
            #expect(response.json?["error"] as? String == "invalid_grant")
            #expect(response.json?["error_description"] as? String == "Invalid JWT Signature.")
            #expect(try await peer.state().counts["token_grants"] == 0)
        }
    }

    @Test func theKeyFileIsGooglesFormatWithGooglesTokenURI() async throws {
        try await GCEPeer.with { peer in
            let data = try Data(contentsOf: URL(fileURLWithPath: peer.credentialsPath))
            let key = try #require(try JSONSerialization.jsonObject(with: data) as? [String: String])
            #expect(key["type"] == "service_account")
            #expect(key["project_id"] == peer.project)
            #expect(key["client_email"] == peer.serviceAccountEmail)
            #expect(key["token_uri"] == "https://oauth2.googleapis.com/token")
            #expect(key["private_key"]?.hasPrefix("-----BEGIN PRIVATE KEY-----\n") == true, "PKCS#8, as Google's keys")
            #expect(key["private_key_id"]?.count == 40)
            let wrong = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: peer.wrongKeyCredentialsPath))) as? [String: String]
            #expect(wrong?["client_email"] == key["client_email"])
            #expect(wrong?["private_key"] != key["private_key"])
        }
    }

    @Test func theAudienceMustBeGooglesTokenURLEvenWhenAnotherEndpointIsCalled() async throws {
        try await GCEPeer.with { peer in
            let response = try await peer.tokenRequest([
                "grant_type": Self.jwtBearer, "assertion": try await peer.assertion(audience: peer.tokenEndpoint),
            ])
            #expect(response.status == 400)
            #expect(response.json?["error"] as? String == "invalid_grant")
            #expect(response.json?["error_description"] as? String
                == "Invalid JWT: Failed audience check. The right audience is https://oauth2.googleapis.com/token")
        }
    }

    @Test(arguments: [(issuedAtOffset: 0, lifetime: 7200), (issuedAtOffset: -7200, lifetime: 3600), (issuedAtOffset: 3600, lifetime: 600)])
    func assertionsThatAreNotShortLivedAndCurrentAreRefused(issuedAtOffset: Int, lifetime: Int) async throws {
        try await GCEPeer.with { peer in
            let response = try await peer.tokenRequest([
                "grant_type": Self.jwtBearer,
                "assertion": try await peer.assertion(issuedAtOffset: issuedAtOffset, lifetime: lifetime),
            ])
            #expect(response.status == 400)
            #expect((response.json?["error_description"] as? String)?.hasPrefix("Invalid JWT: Token must be a short-lived token (60 minutes)") == true)
        }
    }

    @Test func aWrongKeyIDOrAlgorithmIsAnInvalidSignature() async throws {
        try await GCEPeer.with { peer in
            for assertion in [try await peer.assertion(keyID: String(repeating: "0", count: 40)), try await peer.assertion(algorithm: "HS256")] {
                let response = try await peer.tokenRequest(["grant_type": Self.jwtBearer, "assertion": assertion])
                #expect(response.status == 400)
                #expect(response.json?["error_description"] as? String == "Invalid JWT Signature.")
            }
        }
    }

    @Test func anAssertionWithoutScopeIsInvalidScope() async throws {
        try await GCEPeer.with { peer in
            let response = try await peer.tokenRequest(["grant_type": Self.jwtBearer, "assertion": try await peer.assertion(scope: "")])
            #expect(response.status == 400)
            #expect(response.json?["error"] as? String == "invalid_scope")
        }
    }

    @Test func aTokenWithoutTheComputeScopeIsRefusedByCompute() async throws {
        try await GCEPeer.with { peer in
            let token = try await peer.accessToken(scope: "https://www.googleapis.com/auth/devstorage.read_only")
            let response = try await peer.compute("GET", "zones/us-central1-a/instances", token: token)
            #expect(response.status == 403)
            #expect(response.errorReason == "insufficientPermissions")
            #expect(response.errorMessage == "Request had insufficient authentication scopes.")
            // Read-only Compute reads, but cannot create.
            let reader = try await peer.accessToken(scope: "https://www.googleapis.com/auth/compute.readonly")
            #expect(try await peer.compute("GET", "zones/us-central1-a/instances", token: reader).status == 200)
            let insert = try await peer.compute("POST", "zones/us-central1-a/instances", json: instanceBody("ro"), token: reader)
            #expect(insert.status == 403)
        }
    }

    @Test func anAuthorizedUsersRefreshTokenGetsATokenAndAWrongSecretIsInvalidClient() async throws {
        try await GCEPeer.with { peer in
            let data = try Data(contentsOf: URL(fileURLWithPath: peer.authorizedUserPath))
            let user = try #require(try JSONSerialization.jsonObject(with: data) as? [String: String])
            #expect(user["type"] == "authorized_user")
            let clientID = try #require(user["client_id"]), secret = try #require(user["client_secret"])
            let refresh = try #require(user["refresh_token"])
            let good = try await peer.tokenRequest(["grant_type": "refresh_token", "client_id": clientID,
                                                    "client_secret": secret, "refresh_token": refresh])
            #expect(good.status == 200, "\(good.text)")
            #expect((good.json?["scope"] as? String)?.contains("https://www.googleapis.com/auth/cloud-platform") == true)
            let token = try #require(good.json?["access_token"] as? String)
            #expect(try await peer.compute("GET", "zones/us-central1-a", token: token).status == 200)

            let badSecret = try await peer.tokenRequest(["grant_type": "refresh_token", "client_id": clientID,
                                                         "client_secret": "nope", "refresh_token": refresh])
            #expect(badSecret.status == 401)
            #expect(badSecret.json?["error"] as? String == "invalid_client")
            let badRefresh = try await peer.tokenRequest(["grant_type": "refresh_token", "client_id": clientID,
                                                          "client_secret": secret, "refresh_token": "1//revoked"])
            #expect(badRefresh.status == 400)
            #expect(badRefresh.json?["error"] as? String == "invalid_grant")
        }
    }

    @Test func computeAnswers401InGooglesShapeWithoutAValidToken() async throws {
        try await GCEPeer.with { peer in
            let none = try await peer.send("GET", peer.computePath("zones/us-central1-a"))
            #expect(none.status == 401)
            #expect(none.errorReason == "required")
            #expect(none.errorMessage?.hasPrefix("Request is missing required authentication credential.") == true)
            let forged = try await peer.send("GET", peer.computePath("zones/us-central1-a"), token: "ya29.forged")
            #expect(forged.status == 401)
            #expect(forged.errorReason == "authError")
            #expect((forged.json?["error"] as? [String: Any])?["status"] as? String == "UNAUTHENTICATED")

            let token = try await peer.accessToken()
            #expect(try await peer.compute("GET", "zones/us-central1-a", token: token).status == 200)
            try await peer.expireTokens()
            let expired = try await peer.compute("GET", "zones/us-central1-a", token: token)
            #expect(expired.status == 401)
            #expect(expired.errorReason == "authError")
        }
    }
}

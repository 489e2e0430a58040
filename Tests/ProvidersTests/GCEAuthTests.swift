import CloudcCore
import Crypto
import Foundation
@testable import Providers
import TestSupport
import Testing
import _CryptoExtras

/// Google's service-account JWT, the token grants, the credential chain and the token cache.
@Suite struct GoogleJWTTests {
    let issuedAt = Date(timeIntervalSince1970: 1_700_000_000)

    func parts(_ assertion: Secret) throws -> [String] {
        let parts = assertion.value.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        try #require(parts.count == 3)
        return parts
    }

    @Test func headerAndClaimsAreGooglesAndTheSignatureVerifiesWithThePublicKey() throws {
        if Run.which("openssl") != nil {
            #expect(TestKeys.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----"), "PKCS#8, as in Google's JSON keys")
        }
        let jwt = try GoogleJWT(key: TestKeys.key, source: "test key")
        let assertion = try jwt.assertion(issuedAt: issuedAt)
        let (header, claims, signature) = try { let p = try parts(assertion); return (p[0], p[1], p[2]) }()

        let decodedHeader = try JSONDecoder().decode(GoogleJWT.Header.self, from: try #require(GoogleJWT.base64urlDecode(header)))
        #expect(decodedHeader == GoogleJWT.Header(alg: "RS256", typ: "JWT", kid: "kid-0123"))
        let decodedClaims = try JSONDecoder().decode(GoogleJWT.Claims.self, from: try #require(GoogleJWT.base64urlDecode(claims)))
        #expect(decodedClaims == GoogleJWT.Claims(iss: "runner@proj-1.iam.gserviceaccount.com",
                                                  scope: "https://www.googleapis.com/auth/compute",
                                                  aud: "https://oauth2.googleapis.com/token",
                                                  iat: 1_700_000_000, exp: 1_700_003_600))

        let signatureBytes = try #require(GoogleJWT.base64urlDecode(signature))
        #expect(signatureBytes.count == 256, "RSA-2048 signature")
        let publicKey = try TestKeys.publicKey()
        let digest = SHA256.hash(data: Data("\(header).\(claims)".utf8))
        #expect(publicKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signatureBytes), for: digest, padding: .insecurePKCS1v1_5))
        #expect(!publicKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signatureBytes),
                                            for: SHA256.hash(data: Data("\(header).e30".utf8)), padding: .insecurePKCS1v1_5))
    }

    @Test func base64urlHasNoPaddingAndNoPlusOrSlash() throws {
        let assertion = try GoogleJWT(key: TestKeys.key, source: "k").assertion(issuedAt: issuedAt)
        #expect(!assertion.value.contains("="))
        #expect(!assertion.value.contains("+"))
        #expect(!assertion.value.contains("/"))
        #expect(GoogleJWT.base64url(Data([0xfb, 0xff, 0xfe])) == "-__-")
        #expect(GoogleJWT.base64url(Data("a".utf8)) == "YQ")
    }

    /// RS256 (RSASSA-PKCS1-v1_5) is deterministic: OpenSSL signing the same input with the same
    /// key gives the very signature cloudc made.
    @Test func theSignatureIsTheOneOpenSSLMakes() throws {
        let openssl = try #require(Run.which("openssl"), "openssl is needed (Debian's openssl package)")
        let directory = try TemporaryDirectory("jwt-openssl")
        let keyPath = directory.path + "/key.pem", inputPath = directory.path + "/input"
        try TestKeys.privateKeyPEM.write(toFile: keyPath, atomically: true, encoding: .utf8)
        let p = try parts(try GoogleJWT(key: TestKeys.key, source: "k").assertion(issuedAt: issuedAt))
        try Data("\(p[0]).\(p[1])".utf8).write(to: URL(fileURLWithPath: inputPath))
        let signed = try Run.program(openssl, ["dgst", "-sha256", "-sign", keyPath, "-out", directory.path + "/sig", inputPath])
        try #require(signed.status == 0, "\(signed.stderr)")
        let expected = try Data(contentsOf: URL(fileURLWithPath: directory.path + "/sig"))
        #expect(GoogleJWT.base64url(expected) == p[2])
    }

    @Test func aKeyThatIsNotRSAIsACredentialsErrorWithoutTheKey() throws {
        var key = TestKeys.key
        key.privateKey = Secret("-----BEGIN PRIVATE KEY-----\nnotakey\n-----END PRIVATE KEY-----\n")
        let error = #expect(throws: CloudcError.self) { try GoogleJWT(key: key, source: "service-account key x") }
        #expect(error?.code == .credentials)
        #expect(error?.description.contains("notakey") == false)
    }
}

@Suite struct GoogleTokenGrantTests {
    static let tokenAnswer = json(200, ["access_token": "ya29.fresh", "expires_in": 3599, "token_type": "Bearer"])

    func credentials(_ kind: GoogleCredentials.Kind, endpoint: String = googleTokenURL) throws -> GoogleCredentials {
        GoogleCredentials(kind: kind, source: "test credentials", tokenEndpoint: try #require(URL(string: endpoint)),
                          lookedAt: ["clouds.gce.credentials: not set", "GOOGLE_APPLICATION_CREDENTIALS: not set"])
    }

    func fetcher(_ credentials: GoogleCredentials, _ transport: HTTPTransport) -> GoogleTokenFetcher {
        GoogleTokenFetcher(credentials: credentials, transport: transport,
                           retry: RetryPolicy(maxAttempts: 3, baseDelay: 0.001, maxDelay: 0.002),
                           clock: { Date(timeIntervalSince1970: 1_700_000_000) })
    }

    @Test func serviceAccountPostsAJWTBearerGrantToTheOverriddenEndpointWithGooglesAudience() async throws {
        let transport = RoutedTransport { _ in Self.tokenAnswer }
        let peer = "http://127.0.0.1:8089/token"
        let token = try await fetcher(try credentials(.serviceAccount(TestKeys.key), endpoint: peer), transport).fetch()
        #expect(token.value.value == "ya29.fresh")
        #expect(token.expiresAt == Date(timeIntervalSince1970: 1_700_003_599))
        #expect(token.refreshAt == Date(timeIntervalSince1970: 1_700_003_299), "five minutes ahead")

        let request = try #require(transport.requests.first)
        #expect(request.method == "POST")
        #expect(request.url.absoluteString == peer)
        #expect(request.header("Content-Type") == "application/x-www-form-urlencoded")
        #expect(request.form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer")
        let claims = try #require(request.form["assertion"]?.split(separator: ".").dropFirst().first.map(String.init))
        let decoded = try JSONDecoder().decode(GoogleJWT.Claims.self, from: try #require(GoogleJWT.base64urlDecode(claims)))
        #expect(decoded.aud == "https://oauth2.googleapis.com/token", "Google's URL, whatever the endpoint")
    }

    @Test func authorizedUserPostsARefreshTokenGrant() async throws {
        let transport = RoutedTransport { _ in Self.tokenAnswer }
        let user = AuthorizedUser(clientID: "cid.apps.googleusercontent.com", clientSecret: Secret("cs-secret"),
                                  refreshToken: Secret("1//refresh+token/x"))
        _ = try await fetcher(try credentials(.authorizedUser(user)), transport).fetch()
        let request = try #require(transport.requests.first)
        #expect(request.url.absoluteString == "https://oauth2.googleapis.com/token")
        #expect(request.form == ["grant_type": "refresh_token", "client_id": "cid.apps.googleusercontent.com",
                                 "client_secret": "cs-secret", "refresh_token": "1//refresh+token/x"])
    }

    @Test func metadataServerIsAskedWithItsHeader() async throws {
        let transport = RoutedTransport { _ in json(200, ["access_token": "ya29.vm", "expires_in": 1800, "token_type": "Bearer"]) }
        let token = try await fetcher(try credentials(.metadataServer(host: "169.254.169.254")), transport).fetch()
        #expect(token.value.value == "ya29.vm")
        let request = try #require(transport.requests.first)
        #expect(request.method == "GET")
        #expect(request.url.absoluteString == "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token")
        #expect(request.header("Metadata-Flavor") == "Google")
    }

    @Test func noMetadataServerSaysWhatWasLookedAt() async throws {
        let transport = RoutedTransport { _ in throw TransportError(host: "metadata.google.internal", underlying: -1003, text: "could not resolve host") }
        let error = await #expect(throws: CloudcError.self) {
            try await fetcher(try credentials(.metadataServer(host: "metadata.google.internal")), transport).fetch()
        }
        #expect(error?.code == .credentials)
        #expect(error?.message.contains("GOOGLE_APPLICATION_CREDENTIALS: not set") == true)
        #expect(error?.message.contains("clouds.gce.credentials: not set") == true)
        #expect(error?.message.contains("metadata.google.internal") == true)
        #expect(error?.fix?.contains("gcloud auth application-default login") == true)
        #expect(transport.requests.count == 1, "off GCE, one try is enough")
    }

    @Test func invalidGrantIsACredentialsErrorWithGooglesDescriptionAndNoSecret() async throws {
        let transport = RoutedTransport { _ in
            json(400, ["error": "invalid_grant", "error_description": "Invalid JWT Signature."])
        }
        let error = await #expect(throws: CloudcError.self) {
            try await fetcher(try credentials(.serviceAccount(TestKeys.key)), transport).fetch()
        }
        #expect(error?.code == .credentials)
        #expect(error?.message.contains("invalid_grant: Invalid JWT Signature.") == true)
        #expect(error?.fix?.contains("clock") == true)
        #expect(transport.requests.count == 1, "a refusal is not retried")
        let assertion = try #require(transport.requests.first?.form["assertion"])
        #expect(error.map { !$0.description.contains(assertion) && !$0.description.contains("PRIVATE KEY") } == true)
    }

    @Test func expiredRefreshTokenTellsTheUserToSignInAgain() async throws {
        let transport = RoutedTransport { _ in json(400, ["error": "invalid_grant", "error_description": "Token has been expired or revoked."]) }
        let user = AuthorizedUser(clientID: "c", clientSecret: Secret("cs"), refreshToken: Secret("1//rt-secret"))
        let error = await #expect(throws: CloudcError.self) { try await fetcher(try credentials(.authorizedUser(user)), transport).fetch() }
        #expect(error?.fix?.contains("gcloud auth application-default login") == true)
        #expect(error?.description.contains("1//rt-secret") == false)
    }

    @Test func serverFailuresOfTheTokenEndpointAreRetried() async throws {
        let calls = Counter()
        let transport = RoutedTransport { _ in calls.next() < 2 ? HTTPResponse(status: 503) : Self.tokenAnswer }
        let token = try await fetcher(try credentials(.serviceAccount(TestKeys.key)), transport).fetch()
        #expect(token.value.value == "ya29.fresh")
        #expect(transport.requests.count == 3)
    }

    @Test func secretsNeverPrint() throws {
        let user = AuthorizedUser(clientID: "c", clientSecret: Secret("client-secret-1"), refreshToken: Secret("refresh-1"))
        for value in [dumped(GoogleCredentials(kind: .serviceAccount(TestKeys.key), source: "s", tokenEndpoint: try #require(URL(string: googleTokenURL)))),
                      dumped(user), "\(user)", "\(TestKeys.key)",
                      "\(AccessToken(value: Secret("ya29.abc"), issuedAt: Date(), lifetime: 60))"] {
            #expect(!value.contains("PRIVATE KEY"))
            #expect(!value.contains("client-secret-1"))
            #expect(!value.contains("refresh-1"))
            #expect(!value.contains("ya29.abc"))
        }
    }
}

/// A clock tests move by hand.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current = Date(timeIntervalSince1970: 1_700_000_000)
    var now: Date { lock.withLock { current } }
    func advance(_ seconds: TimeInterval) { lock.withLock { current += seconds } }
}

@Suite struct GoogleTokenCacheTests {
    func auth(_ transport: HTTPTransport, clock: TestClock, lifetime: Int = 3600) -> GoogleAuth {
        let credentials = GoogleCredentials(kind: .serviceAccount(TestKeys.key), source: "test",
                                            tokenEndpoint: URL(string: googleTokenURL) ?? URL(fileURLWithPath: "/"))
        let fetcher = GoogleTokenFetcher(credentials: credentials, transport: transport,
                                         retry: RetryPolicy(maxAttempts: 2, baseDelay: 0.001, maxDelay: 0.002),
                                         clock: { clock.now })
        return GoogleAuth(fetcher: fetcher, clock: { clock.now })
    }

    static func numbered(_ counter: Counter, lifetime: Int = 3600) -> @Sendable (HTTPRequest) throws -> HTTPResponse {
        { _ in json(200, ["access_token": .string("ya29.token-\(counter.next())"), "expires_in": .number(Double(lifetime))]) }
    }

    @Test func concurrentCallersShareOneTokenRequest() async throws {
        let counter = Counter()
        let transport = RoutedTransport(delay: 0.2, Self.numbered(counter))
        let auth = auth(transport, clock: TestClock())
        async let first = auth.accessToken()
        async let second = auth.accessToken()
        async let third = auth.accessToken()
        let tokens = try await [first, second, third].map(\.value)
        #expect(tokens == ["ya29.token-0", "ya29.token-0", "ya29.token-0"])
        #expect(transport.requests.count == 1)
        #expect(try await auth.accessToken().value == "ya29.token-0", "cached")
        #expect(transport.requests.count == 1)
    }

    @Test func anExpiredTokenIsReplacedBeforeUse() async throws {
        let counter = Counter()
        let transport = RoutedTransport(Self.numbered(counter))
        let clock = TestClock()
        let auth = auth(transport, clock: clock)
        #expect(try await auth.accessToken().value == "ya29.token-0")
        clock.advance(3600)
        #expect(try await auth.accessToken().value == "ya29.token-1")
        #expect(transport.requests.count == 2)
    }

    @Test func aTokenNearExpiryIsStillHandedOutWhileItsSuccessorIsFetched() async throws {
        let counter = Counter()
        let transport = RoutedTransport(delay: 0.05, Self.numbered(counter))
        let clock = TestClock()
        let auth = auth(transport, clock: clock)
        #expect(try await auth.accessToken().value == "ya29.token-0")
        clock.advance(3600 - 200)   // inside the five minutes before expiry
        #expect(try await auth.accessToken().value == "ya29.token-0", "no one waits for the refresh")
        // The successor arrives in the background; meanwhile every caller gets the old one.
        var seen = try await auth.accessToken().value
        for _ in 0..<200 where seen != "ya29.token-1" {
            try await Task.sleep(nanoseconds: 25_000_000)
            seen = try await auth.accessToken().value
        }
        #expect(seen == "ya29.token-1")
        #expect(transport.requests.count == 2, "one refresh, however many callers")
    }

    @Test func aFailedFetchIsNotCachedAndTheNextCallTriesAgain() async throws {
        let calls = Counter()
        let transport = RoutedTransport { _ in
            calls.next() == 0 ? json(400, ["error": "invalid_grant", "error_description": "bad"]) : json(200, ["access_token": "ya29.ok", "expires_in": 3600])
        }
        let auth = auth(transport, clock: TestClock())
        await #expect(throws: CloudcError.self) { try await auth.accessToken() }
        #expect(try await auth.accessToken().value == "ya29.ok")
    }

    @Test func invalidateForgetsTheToken() async throws {
        let counter = Counter()
        let transport = RoutedTransport(Self.numbered(counter))
        let auth = auth(transport, clock: TestClock())
        _ = try await auth.accessToken()
        await auth.invalidate()
        #expect(try await auth.accessToken().value == "ya29.token-1")
    }
}

@Suite struct GoogleCredentialChainTests {
    func resolve(_ home: TemporaryHome, settings: GCESettings = GCESettings(zones: ["us-central1-a"]),
                 environment: [String: String] = [:]) throws -> GoogleCredentials {
        try GoogleCredentialResolver(environment: environment, homeDirectory: home.path).credentials(for: settings)
    }

    static let adcUser = """
        {"client_id": "cid", "client_secret": "csecret", "refresh_token": "1//rt", "type": "authorized_user", "quota_project_id": "quota-proj"}
        """

    @Test func theConfigsKeyComesFirst() throws {
        let home = try TemporaryHome()
        defer { home.remove() }
        try home.write("keys/sa.json", TestKeys.keyFile())
        try home.write("env.json", TestKeys.keyFile(project: "env-proj"))
        try home.write(".config/gcloud/application_default_credentials.json", Self.adcUser)
        let found = try resolve(home, settings: GCESettings(zones: ["z"], credentials: "~/keys/sa.json"),
                                environment: ["GOOGLE_APPLICATION_CREDENTIALS": home.path + "/env.json"])
        guard case .serviceAccount(let key) = found.kind else { Issue.record("\(found.kind)"); return }
        #expect(key.clientEmail == "runner@proj-1.iam.gserviceaccount.com")
        #expect(found.source.contains("clouds.gce.credentials"))
        #expect(found.projectID == "proj-1")
    }

    @Test func thenGoogleApplicationCredentials() throws {
        let home = try TemporaryHome()
        defer { home.remove() }
        try home.write("env.json", TestKeys.keyFile(project: "env-proj"))
        try home.write(".config/gcloud/application_default_credentials.json", Self.adcUser)
        let found = try resolve(home, environment: ["GOOGLE_APPLICATION_CREDENTIALS": home.path + "/env.json"])
        #expect(found.projectID == "env-proj")
        #expect(found.source.contains("GOOGLE_APPLICATION_CREDENTIALS"))
    }

    @Test func thenGcloudsApplicationDefaultCredentials() throws {
        let home = try TemporaryHome()
        defer { home.remove() }
        try home.write(".config/gcloud/application_default_credentials.json", Self.adcUser)
        let found = try resolve(home)
        #expect(found.kind == .authorizedUser(AuthorizedUser(clientID: "cid", clientSecret: Secret("csecret"),
                                                             refreshToken: Secret("1//rt"), quotaProjectID: "quota-proj")))
        #expect(found.tokenEndpoint.absoluteString == googleTokenURL)
    }

    @Test func thenTheMetadataServerAfterSayingWhatWasMissing() throws {
        let home = try TemporaryHome()
        defer { home.remove() }
        let found = try resolve(home, environment: ["GCE_METADATA_HOST": "127.0.0.1:8099"])
        #expect(found.kind == .metadataServer(host: "127.0.0.1:8099"))
        #expect(found.lookedAt.count == 3)
        #expect(found.lookedAt.last?.contains("application_default_credentials.json: no such file") == true)
    }

    @Test func aNamedFileThatIsMissingIsAnErrorNotAFallThrough() throws {
        let home = try TemporaryHome()
        defer { home.remove() }
        try home.write(".config/gcloud/application_default_credentials.json", Self.adcUser)
        let error = #expect(throws: CloudcError.self) {
            try resolve(home, environment: ["GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/sa.json"])
        }
        #expect(error?.code == .credentials)
        #expect(error?.message.contains("/nonexistent/sa.json") == true)
    }

    @Test func tokenEndpointIsTheConfigsThenTheKeysThenGoogles() throws {
        let home = try TemporaryHome()
        defer { home.remove() }
        try home.write("sa.json", TestKeys.keyFile(tokenURI: "https://key.example/token"))
        let path = home.path + "/sa.json"
        let fromConfig = try resolve(home, settings: GCESettings(zones: ["z"], credentials: path, tokenEndpoint: "http://127.0.0.1:9/token"))
        #expect(fromConfig.tokenEndpoint.absoluteString == "http://127.0.0.1:9/token")
        let fromKey = try resolve(home, settings: GCESettings(zones: ["z"], credentials: path))
        #expect(fromKey.tokenEndpoint.absoluteString == "https://key.example/token")
        try home.write("plain.json", TestKeys.keyFile(tokenURI: ""))
        let plain = try resolve(home, settings: GCESettings(zones: ["z"], credentials: home.path + "/plain.json"))
        #expect(plain.tokenEndpoint.absoluteString == googleTokenURL)
    }

    @Test func projectIsTheConfigsThenTheKeysThenTheEnvironments() throws {
        let home = try TemporaryHome()
        defer { home.remove() }
        let resolver = GoogleCredentialResolver(environment: ["GOOGLE_CLOUD_PROJECT": "env-proj"], homeDirectory: home.path)
        let key = GoogleCredentials(kind: .serviceAccount(TestKeys.key), source: "k", tokenEndpoint: try #require(URL(string: googleTokenURL)))
        let vm = GoogleCredentials(kind: .metadataServer(host: "m"), source: "m", tokenEndpoint: try #require(URL(string: googleTokenURL)))
        #expect(try resolver.project(for: GCESettings(project: "cfg-proj", zones: ["z"]), credentials: key) == "cfg-proj")
        #expect(try resolver.project(for: GCESettings(zones: ["z"]), credentials: key) == "proj-1")
        #expect(try resolver.project(for: GCESettings(zones: ["z"]), credentials: vm) == "env-proj")
        let bare = GoogleCredentialResolver(environment: [:], homeDirectory: home.path)
        let error = #expect(throws: CloudcError.self) { try bare.project(for: GCESettings(zones: ["z"]), credentials: vm) }
        #expect(error?.fix?.contains("project:") == true)
    }

    @Test func unsupportedCredentialTypesAreNamed() throws {
        let home = try TemporaryHome()
        defer { home.remove() }
        try home.write("ext.json", #"{"type": "external_account", "audience": "x"}"#)
        let error = #expect(throws: CloudcError.self) {
            try resolve(home, settings: GCESettings(zones: ["z"], credentials: home.path + "/ext.json"))
        }
        #expect(error?.message.contains("external_account") == true)
    }
}

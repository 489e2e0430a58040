import CloudcCore
import Foundation
import TestSupport
@testable import Providers
import Testing

/// Keystone v3: the sign-in requests, the token and catalog read from the answer, the
/// endpoints picked from it, the errors, and the token cache (with a clock moved by hand).
@Suite struct KeystoneTests {
    static let password = "hunter2-keystone-pw"
    static let secret = "appcred-secret-5d1"
    static let authURLText = "https://keystone.example.org:5000/v3/"

    static func passwordAuth(region: String? = nil, interface: String = "public") throws -> OpenStackAuth {
        OpenStackAuth(authURL: try #require(URL(string: authURLText)),
                      method: .password(username: "alice", password: Secret(password), userDomainName: "Users", userDomainID: nil),
                      projectName: "hpc", projectDomainName: "Projects", region: region, interface: interface,
                      source: "clouds.yaml cloud 'research' (~/.config/openstack/clouds.yaml)")
    }

    static func applicationCredentialAuth() throws -> OpenStackAuth {
        OpenStackAuth(authURL: try #require(URL(string: authURLText)),
                      method: .applicationCredential(id: "ac-123", secret: Secret(secret)),
                      source: "OS_* environment variables")
    }

    /// Two regions; the image service only in RegionTwo and only with the older `region` field.
    static let catalog: JSONValue = [
        ["type": "identity", "name": "keystone", "endpoints": [
            ["interface": "public", "region_id": "RegionOne", "region": "RegionOne", "url": .string(authURLText)],
        ]],
        ["type": "compute", "name": "nova", "endpoints": [
            ["interface": "public", "region_id": "RegionOne", "region": "RegionOne", "url": "https://nova.one.example/v2.1"],
            ["interface": "internal", "region_id": "RegionOne", "region": "RegionOne", "url": "http://nova.one.internal/v2.1"],
            ["interface": "public", "region_id": "RegionTwo", "region": "RegionTwo", "url": "https://nova.two.example/v2.1/"],
        ]],
        ["type": "network", "name": "neutron", "endpoints": [
            ["interface": "public", "region_id": "RegionOne", "url": "https://neutron.one.example:9696"],
            ["interface": "public", "region_id": "RegionTwo", "url": "https://neutron.two.example:9696"],
        ]],
        ["type": "image", "name": "glance", "endpoints": [
            ["interface": "public", "region": "RegionTwo", "url": "https://glance.two.example"],
        ]],
    ]

    /// Keystone's time format: microseconds and Z.
    static func keystoneTime(_ date: Date) -> String {
        String(ISO8601DateFormatter().string(from: date).dropLast()) + ".000000Z"
    }

    /// A 201 with `X-Subject-Token: value`, issued at `issuedAt` (Keystone's clock).
    static func tokenAnswer(_ value: String = "gAAAAB-token", issuedAt: Date, lifetime: TimeInterval = 3600,
                            projectID: String? = "proj-42", catalog: JSONValue? = catalog) -> HTTPResponse {
        var token: [String: JSONValue] = [
            "methods": ["password"], "issued_at": .string(keystoneTime(issuedAt)),
            "expires_at": .string(keystoneTime(issuedAt + lifetime)),
            "user": ["id": "u-1", "name": "alice", "domain": ["id": "d-users", "name": "Users"]],
        ]
        if let projectID { token["project"] = ["id": .string(projectID), "name": "hpc", "domain": ["id": "d-p", "name": "Projects"]] }
        if let catalog { token["catalog"] = catalog }
        return HTTPResponse(status: 201, headers: ["x-subject-token": value, "content-type": "application/json"],
                            body: JSONValue.object(["token": .object(token)]).data)
    }

    static func keystoneError(_ status: Int, _ message: String) -> HTTPResponse {
        json(status, ["error": ["code": .number(Double(status)), "title": "Unauthorized", "message": .string(message)]])
    }

    func session(_ auth: OpenStackAuth, _ transport: HTTPTransport, clock: TestClock = TestClock(),
                 refreshMargin: TimeInterval? = nil) -> KeystoneSession {
        KeystoneSession(auth: auth, transport: transport, now: { clock.now },
                        retry: RetryPolicy(maxAttempts: 3, baseDelay: 0.001, maxDelay: 0.002), refreshMargin: refreshMargin)
    }

    /// Answers every sign-in with a new token, `tok-0`, `tok-1`, ..., issued at the clock's time.
    static func numbered(_ counter: Counter, clock: TestClock, lifetime: TimeInterval = 3600)
        -> @Sendable (HTTPRequest) throws -> HTTPResponse {
        { _ in tokenAnswer("tok-\(counter.next())", issuedAt: clock.now, lifetime: lifetime) }
    }

    // MARK: - The requests

    @Test func passwordSignInIsAProjectScopedPasswordRequest() async throws {
        let transport = RoutedTransport { _ in Self.tokenAnswer(issuedAt: TestClock().now) }
        _ = try await session(try Self.passwordAuth(), transport).token()
        let request = try #require(transport.requests.first)
        #expect(request.method == "POST")
        #expect(request.url.absoluteString == "https://keystone.example.org:5000/v3/auth/tokens")
        #expect(request.header("Content-Type") == "application/json")
        let expected: JSONValue = ["auth": [
            "identity": ["methods": ["password"],
                         "password": ["user": ["name": "alice", "password": .string(Self.password), "domain": ["name": "Users"]]]],
            "scope": ["project": ["name": "hpc", "domain": ["name": "Projects"]]],
        ]]
        #expect(request.json == expected)
    }

    @Test func anAuthURLWithoutItsFinalSlashKeepsItsVersion() throws {
        var auth = try Self.passwordAuth()
        auth.authURL = try #require(URL(string: "https://keystone.example.org/identity/v3"))
        let authenticator = KeystoneAuthenticator(auth: auth, transport: RoutedTransport { _ in HTTPResponse(status: 500) },
                                                  retry: RetryPolicy(maxAttempts: 1), now: { Date() })
        #expect(authenticator.tokensURL.absoluteString == "https://keystone.example.org/identity/v3/auth/tokens")
    }

    @Test func domainsAndProjectsByID() throws {
        var auth = try Self.passwordAuth()
        auth.method = .password(username: "alice", password: Secret(Self.password), userDomainName: "Users", userDomainID: "d-users")
        auth.projectID = "proj-42"
        let body = KeystoneAuthenticator.body(auth)
        #expect(body["auth"]?["identity"]?["password"]?["user"]?["domain"] == ["id": "d-users"], "an id wins over a name")
        #expect(body["auth"]?["scope"] == ["project": ["id": "proj-42"]], "a project id needs no domain")

        auth.projectID = nil
        auth.projectDomainName = nil
        auth.projectDomainID = "d-p"
        #expect(KeystoneAuthenticator.body(auth)["auth"]?["scope"] == ["project": ["name": "hpc", "domain": ["id": "d-p"]]])
    }

    @Test func applicationCredentialSignInHasNoScope() async throws {
        let transport = RoutedTransport { _ in Self.tokenAnswer(issuedAt: TestClock().now) }
        _ = try await session(try Self.applicationCredentialAuth(), transport).token()
        let request = try #require(transport.requests.first)
        #expect(request.url.absoluteString == "https://keystone.example.org:5000/v3/auth/tokens")
        let expected: JSONValue = ["auth": ["identity": [
            "methods": ["application_credential"],
            "application_credential": ["id": "ac-123", "secret": .string(Self.secret)],
        ]]]
        #expect(request.json == expected)
    }

    // MARK: - The answer

    @Test func theTokenComesFromTheHeaderAndTheRestFromTheBody() async throws {
        let clock = TestClock()
        let transport = RoutedTransport { _ in Self.tokenAnswer("gAAAAB-subject", issuedAt: clock.now, lifetime: 7200) }
        let token = try await session(try Self.passwordAuth(), transport, clock: clock).token()
        #expect(token.value.value == "gAAAAB-subject")
        #expect(token.projectID == "proj-42")
        #expect(token.issuedAt == clock.now)
        #expect(token.expiresAt == clock.now + 7200)
        #expect(token.catalog.map(\.type) == ["identity", "compute", "network", "image"])
        #expect(token.catalog[3] == KeystoneService(type: "image", name: "glance", endpoints: [
            KeystoneEndpoint(interface: "public", region: "RegionTwo", url: "https://glance.two.example"),
        ]))
        #expect(!"\(token)".contains("gAAAAB-subject"))
    }

    @Test(arguments: [
        ("2026-11-22T04:00:00.000000Z", 1_795_320_000.0),
        ("2026-11-22T04:00:00Z", 1_795_320_000.0),
        ("2026-11-22T04:00:00.250000Z", 1_795_320_000.25),
        ("2026-11-22T05:00:00.000000+01:00", 1_795_320_000.0),
        ("2026-11-22T04:00:00.000000", 1_795_320_000.0),
    ])
    func keystoneTimesAreRead(text: String, seconds: Double) throws {
        let date = try #require(KeystoneAuthenticator.timestamp(text))
        #expect(abs(date.timeIntervalSince1970 - seconds) < 0.001)
    }

    @Test func aClockThatDiffersFromKeystonesDoesNotMatter() async throws {
        let clock = TestClock()
        let counter = Counter()
        // Keystone's clock is two hours ahead of this machine's.
        let transport = RoutedTransport { _ in Self.tokenAnswer("tok-\(counter.next())", issuedAt: clock.now + 7200) }
        let keystone = session(try Self.passwordAuth(), transport, clock: clock)
        let token = try await keystone.token()
        #expect(token.expiresAt == clock.now + 3600, "the lifetime, counted from when it was asked for")
        clock.advance(1800)
        #expect(try await keystone.token().value.value == "tok-0")
        #expect(await keystone.authentications == 1)
    }

    // MARK: - Endpoints

    @Test(arguments: [
        (nil, "public", "compute", "https://nova.one.example/v2.1/"),
        ("RegionTwo", "public", "compute", "https://nova.two.example/v2.1/"),
        ("RegionOne", "internal", "compute", "http://nova.one.internal/v2.1/"),
        (nil, "public", "network", "https://neutron.one.example:9696/"),
        ("RegionTwo", "public", "network", "https://neutron.two.example:9696/"),
        (nil, "public", "image", "https://glance.two.example/"),
        ("RegionTwo", "public", "image", "https://glance.two.example/"),
    ] as [(String?, String, String, String)])
    func endpointsFollowTheRegionAndInterface(region: String?, interface: String, type: String, expected: String) async throws {
        let transport = RoutedTransport { _ in Self.tokenAnswer(issuedAt: TestClock().now) }
        let keystone = session(try Self.passwordAuth(region: region, interface: interface), transport)
        #expect(try await keystone.endpoint(type: type).absoluteString == expected)
    }

    @Test func aMissingServiceListsTheCatalogsTypes() async throws {
        let transport = RoutedTransport { _ in Self.tokenAnswer(issuedAt: TestClock().now) }
        let keystone = session(try Self.passwordAuth(), transport)
        let error = await #expect(throws: CloudcError.self) { try await keystone.endpoint(type: "object-store") }
        #expect(error?.code == .config)
        #expect(error?.message == "the catalog of https://keystone.example.org:5000/v3/ has no object-store endpoint in any region "
                    + "(interface public); it has: compute, identity, image, network")
    }

    @Test func aRegionWithoutTheServiceListsTheRegionsThatHaveIt() async throws {
        let transport = RoutedTransport { _ in Self.tokenAnswer(issuedAt: TestClock().now) }
        let keystone = session(try Self.passwordAuth(region: "RegionNine"), transport)
        let error = await #expect(throws: CloudcError.self) { try await keystone.endpoint(type: "compute") }
        #expect(error?.code == .config)
        #expect(error?.message == "the catalog of https://keystone.example.org:5000/v3/ has no compute endpoint for region RegionNine "
                    + "(interface public); it has: compute public in RegionOne, compute internal in RegionOne, compute public in RegionTwo")
        #expect(error?.fix?.hasPrefix("Set region:") == true)
        #expect(error?.fix?.hasSuffix("to one of: RegionOne, RegionTwo.") == true)

        let image = await #expect(throws: CloudcError.self) {
            try await session(try Self.passwordAuth(region: "RegionOne"), transport).endpoint(type: "image")
        }
        #expect(image?.fix?.hasSuffix("to one of: RegionTwo.") == true)
    }

    @Test func anInterfaceWithoutTheServiceListsTheInterfacesThatHaveIt() async throws {
        let transport = RoutedTransport { _ in Self.tokenAnswer(issuedAt: TestClock().now) }
        let keystone = session(try Self.passwordAuth(region: "RegionOne", interface: "admin"), transport)
        let error = await #expect(throws: CloudcError.self) { try await keystone.endpoint(type: "compute") }
        #expect(error?.message.contains("has no compute endpoint for region RegionOne (interface admin)") == true)
        #expect(error?.fix == "Set interface: in the cloud's settings to one of: public, internal.")
    }

    // MARK: - Errors

    @Test func aRefusedPasswordQuotesKeystoneAndNamesWhoButNotThePassword() async throws {
        let transport = RoutedTransport { _ in Self.keystoneError(401, "The request you have made requires authentication.") }
        let error = await #expect(throws: CloudcError.self) { try await session(try Self.passwordAuth(), transport).token() }
        #expect(error?.code == .credentials)
        #expect(error?.message == "Keystone at https://keystone.example.org:5000/v3/ refused user 'alice' (domain Users) "
                    + "for project 'hpc' (domain Projects), from clouds.yaml cloud 'research' (~/.config/openstack/clouds.yaml): "
                    + "The request you have made requires authentication.")
        #expect(error?.fix?.hasPrefix("Check the password") == true)
        #expect(error.map { !String(describing: $0).contains(Self.password) } == true)
        #expect(transport.requests.count == 1, "a refusal is not retried")
    }

    @Test func aPasswordEchoedByKeystoneIsBlanked() async throws {
        let transport = RoutedTransport { _ in Self.keystoneError(401, "Invalid password \(Self.password) for user alice") }
        let error = await #expect(throws: CloudcError.self) { try await session(try Self.passwordAuth(), transport).token() }
        #expect(error?.message.hasSuffix("Invalid password <redacted> for user alice") == true)
    }

    @Test func aRefusedApplicationCredentialSaysSo() async throws {
        let transport = RoutedTransport { _ in Self.keystoneError(401, "The request you have made requires authentication.") }
        let error = await #expect(throws: CloudcError.self) {
            try await session(try Self.applicationCredentialAuth(), transport).token()
        }
        #expect(error?.message.contains("refused application credential ac-123, from OS_* environment variables") == true)
        #expect(error?.fix?.contains("application_credential_secret") == true)
        #expect(error.map { !String(describing: $0).contains(Self.secret) } == true)
    }

    @Test func anUnreachableKeystoneIsUnavailableAndNamesTheURL() async throws {
        let transport = RoutedTransport { _ in
            throw TransportError(host: "keystone.example.org", underlying: -1004, text: "connection refused")
        }
        let error = await #expect(throws: CloudcError.self) { try await session(try Self.passwordAuth(), transport).token() }
        #expect(error?.code == .unavailable)
        #expect(error?.message == "cannot reach Keystone at https://keystone.example.org:5000/v3/: connection refused")
        #expect(error?.fix?.contains("auth_url") == true)
        #expect(transport.requests.count == 3, "retried")
    }

    @Test func serverFailuresAreRetried() async throws {
        let calls = Counter()
        let transport = RoutedTransport { _ in
            calls.next() < 2 ? Self.keystoneError(503, "busy") : Self.tokenAnswer("tok", issuedAt: TestClock().now)
        }
        let keystone = session(try Self.passwordAuth(), transport)
        #expect(try await keystone.token().value.value == "tok")
        #expect(transport.requests.count == 3)
        #expect(await keystone.authentications == 1)
    }

    @Test func notKeystoneAtAll() async throws {
        let notFound = RoutedTransport { _ in HTTPResponse(status: 404, body: Data("<html>Not Found</html>".utf8)) }
        let error = await #expect(throws: CloudcError.self) { try await session(try Self.passwordAuth(), notFound).token() }
        #expect(error?.code == .config)
        #expect(error?.message.contains("has no auth/tokens (HTTP 404)") == true)
        #expect(error?.fix?.contains("auth_url") == true)

        let noHeader = RoutedTransport { _ in json(201, ["token": ["expires_at": "2026-11-22T04:00:00.000000Z"]]) }
        let missing = await #expect(throws: CloudcError.self) { try await session(try Self.passwordAuth(), noHeader).token() }
        #expect(missing?.message.contains("without an X-Subject-Token header") == true)
    }

    @Test func aTokenWithoutProjectOrCatalogIsRefused() async throws {
        let unscoped = RoutedTransport { _ in Self.tokenAnswer(issuedAt: TestClock().now, projectID: nil) }
        let error = await #expect(throws: CloudcError.self) { try await session(try Self.passwordAuth(), unscoped).token() }
        #expect(error?.code == .credentials)
        #expect(error?.message.contains("a token that is not scoped to a project") == true)

        let bare = RoutedTransport { _ in Self.tokenAnswer(issuedAt: TestClock().now, catalog: []) }
        let noCatalog = await #expect(throws: CloudcError.self) { try await session(try Self.passwordAuth(), bare).token() }
        #expect(noCatalog?.message.contains("for project proj-42 without a service catalog") == true)
        #expect(noCatalog?.fix?.contains("role") == true)
    }

    // MARK: - The cache

    @Test func tenConcurrentCallersShareOneAuthentication() async throws {
        let counter = Counter()
        let clock = TestClock()
        let transport = RoutedTransport(delay: 0.2, Self.numbered(counter, clock: clock))
        let keystone = session(try Self.passwordAuth(), transport, clock: clock)
        let values = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<10 { group.addTask { try await keystone.token().value.value } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(values == Array(repeating: "tok-0", count: 10))
        #expect(transport.requests.count == 1)
        #expect(await keystone.authentications == 1)
        #expect(try await keystone.token().value.value == "tok-0", "cached")
        #expect(await keystone.authentications == 1)
    }

    @Test func aTokenIsReplacedFiveMinutesBeforeItExpires() async throws {
        let counter = Counter()
        let clock = TestClock()
        let keystone = session(try Self.passwordAuth(), RoutedTransport(Self.numbered(counter, clock: clock)), clock: clock)
        #expect(try await keystone.token().value.value == "tok-0")
        clock.advance(3299)
        #expect(try await keystone.token().value.value == "tok-0", "301 seconds left")
        clock.advance(2)
        #expect(try await keystone.token().value.value == "tok-1", "299 seconds left")
        #expect(await keystone.authentications == 2)
    }

    @Test func aShortLivedTokenIsReplacedHalfWayThrough() async throws {
        let counter = Counter()
        let clock = TestClock()
        let keystone = session(try Self.passwordAuth(), RoutedTransport(Self.numbered(counter, clock: clock, lifetime: 120)), clock: clock)
        _ = try await keystone.token()
        clock.advance(59)
        #expect(try await keystone.token().value.value == "tok-0")
        clock.advance(2)
        #expect(try await keystone.token().value.value == "tok-1")
    }

    @Test func aGivenRefreshMarginIsUsed() async throws {
        let counter = Counter()
        let clock = TestClock()
        let keystone = session(try Self.passwordAuth(), RoutedTransport(Self.numbered(counter, clock: clock)), clock: clock,
                               refreshMargin: 30)
        _ = try await keystone.token()
        clock.advance(3569)
        #expect(try await keystone.token().value.value == "tok-0")
        clock.advance(2)
        #expect(try await keystone.token().value.value == "tok-1")
    }

    @Test func invalidateForcesANewToken() async throws {
        let counter = Counter()
        let clock = TestClock()
        let keystone = session(try Self.passwordAuth(), RoutedTransport(Self.numbered(counter, clock: clock)), clock: clock)
        #expect(try await keystone.token().value.value == "tok-0")
        await keystone.invalidate()
        #expect(try await keystone.token().value.value == "tok-1")
        #expect(await keystone.authentications == 2)
    }

    @Test func aFailedAuthenticationIsNotCached() async throws {
        let calls = Counter()
        let transport = RoutedTransport { _ in
            calls.next() == 0 ? Self.keystoneError(401, "no") : Self.tokenAnswer("tok-ok", issuedAt: TestClock().now)
        }
        let keystone = session(try Self.passwordAuth(), transport)
        await #expect(throws: CloudcError.self) { try await keystone.token() }
        #expect(try await keystone.token().value.value == "tok-ok")
        #expect(await keystone.authentications == 2)
    }
}

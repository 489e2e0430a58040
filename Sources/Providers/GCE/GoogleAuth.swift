import CloudcCore
import Foundation

/// An OAuth2 access token and when to replace it.
public struct AccessToken: Sendable, Equatable {
    public var value: Secret
    public var expiresAt: Date
    /// When to fetch the next one: ahead of expiry, so no call goes out with a dying token.
    public var refreshAt: Date

    public init(value: Secret, expiresAt: Date, refreshAt: Date) {
        self.value = value; self.expiresAt = expiresAt; self.refreshAt = refreshAt
    }

    /// Refresh 5 minutes before expiry (half-way through a token that lives shorter than 10).
    public init(value: Secret, issuedAt: Date, lifetime: TimeInterval) {
        let ahead = min(300, lifetime / 2)
        self.init(value: value, expiresAt: issuedAt + lifetime, refreshAt: issuedAt + lifetime - ahead)
    }
}

/// Where the Compute client gets its bearer tokens.
public protocol GoogleTokenSource: Sendable {
    /// A token valid for at least a little longer.
    func accessToken() async throws -> Secret
    /// Forgets the current token (Google refused it), so the next call fetches a new one.
    func invalidate() async
}

/// Fetches one access token from Google for `credentials`: a JWT-bearer grant for a
/// service account, a refresh-token grant for a gcloud user, or the metadata server.
/// No caching here; `GoogleAuth` caches.
public struct GoogleTokenFetcher: Sendable {
    public let credentials: GoogleCredentials
    let transport: HTTPTransport
    /// For the metadata server: a short timeout, since off GCE nothing answers.
    let metadataTransport: HTTPTransport
    let retry: RetryPolicy
    let clock: @Sendable () -> Date
    let scope: String

    public init(credentials: GoogleCredentials, transport: HTTPTransport, metadataTransport: HTTPTransport? = nil,
                retry: RetryPolicy = RetryPolicy(maxAttempts: 4), scope: String = computeScope,
                clock: @escaping @Sendable () -> Date = { Date() }) {
        self.credentials = credentials; self.transport = transport
        self.metadataTransport = metadataTransport ?? transport
        self.retry = retry; self.scope = scope; self.clock = clock
    }

    public func fetch() async throws -> AccessToken {
        switch credentials.kind {
        case .serviceAccount(let key):
            let jwt = try GoogleJWT(key: key, source: credentials.source)
            let fetcher = self
            return try await exchange {
                let assertion = try jwt.assertion(issuedAt: fetcher.clock(), scope: fetcher.scope)
                return [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.value)]
            }
        case .authorizedUser(let user):
            return try await exchange {
                [("grant_type", "refresh_token"), ("client_id", user.clientID),
                 ("client_secret", user.clientSecret.value), ("refresh_token", user.refreshToken.value)]
            }
        case .metadataServer(let host):
            return try await metadataToken(host: host)
        }
    }

    /// POSTs a form to the token endpoint; retries only what can pass (5xx, 429, no connection).
    func exchange(_ form: @escaping @Sendable () throws -> [(String, String)]) async throws -> AccessToken {
        let endpoint = credentials.tokenEndpoint
        let fetcher = self
        let response: HTTPResponse
        do {
            response = try await retry.run(shouldRetry: Self.isPassing) {
                let request = HTTPRequest(method: "POST", url: endpoint,
                                          headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                          body: Data(FormEncoding.form(try form()).utf8))
                let response = try await fetcher.transport.send(request)
                if response.status == 429 || response.status >= 500 { throw PassingHTTPFailure(response: response) }
                return response
            }
        } catch let failure as PassingHTTPFailure {
            throw CloudcError(.unavailable, "the token endpoint \(endpoint.absoluteString) failed: HTTP \(failure.response.status)",
                              fix: "Google's sign-in service is failing; try again in a few minutes")
        } catch let error as TransportError {
            throw CloudcError(.unavailable, "cannot reach the token endpoint \(endpoint.absoluteString): \(error.text)",
                              fix: "check your network connection (and token_endpoint: in the cloud config, if set)")
        }
        return try token(from: response, asked: "the token endpoint \(endpoint.absoluteString)")
    }

    func metadataToken(host: String) async throws -> AccessToken {
        let looked = credentials.lookedAt.joined(separator: "; ")
        let noCredentials = { (what: String) in
            CloudcError(.credentials, "no Google credentials found (\(looked); metadata server \(host): \(what))",
                        fix: "set credentials: in the gce cloud to a service-account JSON key, set GOOGLE_APPLICATION_CREDENTIALS, or run: gcloud auth application-default login")
        }
        guard let url = URL(string: "http://\(host)/computeMetadata/v1/instance/service-accounts/default/token") else {
            throw noCredentials("not a host name")
        }
        let transport = metadataTransport
        let response: HTTPResponse
        do {
            // One try for a missing server (off GCE), a few for a failing one.
            response = try await retry.run(shouldRetry: { $0 is PassingHTTPFailure }) {
                let response = try await transport.send(HTTPRequest(method: "GET", url: url, headers: [("Metadata-Flavor", "Google")]))
                if response.status == 429 || response.status >= 500 { throw PassingHTTPFailure(response: response) }
                return response
            }
        } catch let error as TransportError {
            throw noCredentials("no answer, so this is not a GCE VM (\(error.text))")
        } catch let failure as PassingHTTPFailure {
            throw CloudcError(.unavailable, "the GCE metadata server failed: HTTP \(failure.response.status)", fix: "try again in a minute")
        }
        if response.status == 404 {
            throw noCredentials("this VM has no service account")
        }
        return try token(from: response, asked: "the metadata server")
    }

    /// Reads `{"access_token", "expires_in"}`, or turns an OAuth2 error into one clear line.
    func token(from response: HTTPResponse, asked: String) throws -> AccessToken {
        let json = JSONValue.parse(response.body)
        guard response.status == 200 else {
            let code = json?["error"]?.string ?? "HTTP \(response.status)"
            let description = json?["error_description"]?.string
            let what = "Google refused \(credentials.source): \(code)" + (description.map { ": \($0)" } ?? "")
            throw CloudcError(.credentials, what, fix: refusalFix(code))
        }
        guard let value = json?["access_token"]?.string, !value.isEmpty else {
            throw CloudcError(.unavailable, "\(asked) answered without an access token", fix: "try again; if it persists, check token_endpoint: in the cloud config")
        }
        let lifetime = TimeInterval(json?["expires_in"]?.int ?? 3600)
        return AccessToken(value: Secret(value), issuedAt: clock(), lifetime: max(lifetime, 1))
    }

    func refusalFix(_ code: String) -> String {
        switch credentials.kind {
        case .serviceAccount(let key):
            if code == "invalid_grant" {
                return "the key \(key.privateKeyID) of \(key.clientEmail) may be deleted or disabled, or this machine's clock is wrong: check the clock (timedatectl), or create a new key in IAM → Service accounts → Keys"
            }
            return "create a new JSON key for \(key.clientEmail) (IAM → Service accounts → Keys) and point credentials: at it"
        case .authorizedUser:
            return "your gcloud sign-in has expired or was revoked: run gcloud auth application-default login"
        case .metadataServer:
            return "check the VM's service account and its scopes (it needs \(computeScope) or cloud-platform)"
        }
    }

    static func isPassing(_ error: Error) -> Bool { error is PassingHTTPFailure || error is TransportError }
}

/// An answer worth retrying (429, 5xx), carried through `RetryPolicy`.
struct PassingHTTPFailure: Error {
    var response: HTTPResponse
}

/// Caches one access token and refreshes it ahead of expiry (an `ExpiringCache`): the current
/// token is handed out until `safetyMargin` before it expires while its successor is fetched.
public actor GoogleAuth: GoogleTokenSource {
    /// A token this close to expiry is not handed out; callers wait for the new one.
    static let safetyMargin: TimeInterval = 10

    let cache: ExpiringCache<AccessToken>
    public nonisolated let source: String

    public init(fetcher: GoogleTokenFetcher, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.init(source: fetcher.credentials.source, clock: clock) { try await fetcher.fetch() }
    }

    /// For tests: any way of getting a token.
    init(source: String, clock: @escaping @Sendable () -> Date = { Date() }, fetch: @escaping @Sendable () async throws -> AccessToken) {
        self.source = source
        self.cache = ExpiringCache(clock: clock, refreshAt: { $0.refreshAt },
                                   usableUntil: { $0.expiresAt - GoogleAuth.safetyMargin }, fetch: fetch)
    }

    public func accessToken() async throws -> Secret { try await cache.value().value }

    public func invalidate() async { await cache.invalidate() }
}

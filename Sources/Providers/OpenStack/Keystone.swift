import CloudcCore
import Foundation

/// A project-scoped Keystone v3 token and the service catalog that came with it.
public struct KeystoneToken: Sendable, CustomStringConvertible {
    /// The `X-Subject-Token`: what goes in `X-Auth-Token`.
    public var value: Secret
    /// When the token stops working, on this machine's clock (see `KeystoneAuthenticator.token`).
    public var expiresAt: Date
    /// When it was asked for, on this machine's clock.
    public var issuedAt: Date
    public var projectID: String
    public var catalog: [KeystoneService]

    public init(value: Secret, expiresAt: Date, issuedAt: Date, projectID: String, catalog: [KeystoneService]) {
        self.value = value; self.expiresAt = expiresAt; self.issuedAt = issuedAt
        self.projectID = projectID; self.catalog = catalog
    }

    public var description: String {
        "Keystone token for project \(projectID), expires \(expiresAt), \(catalog.count) services in its catalog"
    }
}

/// One service of the catalog: `compute` (Nova), `network` (Neutron), `image` (Glance), ...
public struct KeystoneService: Sendable, Equatable {
    public var type: String
    public var name: String
    public var endpoints: [KeystoneEndpoint]

    public init(type: String, name: String, endpoints: [KeystoneEndpoint]) {
        self.type = type; self.name = name; self.endpoints = endpoints
    }
}

public struct KeystoneEndpoint: Sendable, Equatable {
    /// public, internal or admin.
    public var interface: String
    /// The endpoint's `region_id` (or its older `region`); nil for a catalog without regions.
    public var region: String?
    public var url: String

    public init(interface: String, region: String?, url: String) {
        self.interface = interface; self.region = region; self.url = url
    }
}

/// Signs in to Keystone, caches the token, and finds service endpoints in its catalog.
///
/// One token at a time: it is replaced when fewer than `refreshMargin` seconds of it remain
/// (by default the smaller of five minutes and half its lifetime), or after `invalidate()`.
/// However many tasks ask at once, one authentication is in flight and all share its answer;
/// a failed one is not cached, so the next call tries again.
public actor KeystoneSession {
    public nonisolated let auth: OpenStackAuth
    let cache: ExpiringCache<KeystoneToken>
    /// How many times it authenticated (started a token request), for tests.
    public var authentications: Int { get async { await cache.fetches } }

    /// `retry` governs Keystone's passing failures (no connection, 5xx, 429); `refreshMargin`
    /// replaces the default margin, never beyond half a token's lifetime.
    public init(auth: OpenStackAuth, transport: any HTTPTransport, now: @escaping @Sendable () -> Date = { Date() },
                retry: RetryPolicy = RetryPolicy(maxAttempts: 4), refreshMargin: TimeInterval? = nil) {
        self.auth = auth
        let authenticator = KeystoneAuthenticator(auth: auth, transport: transport, retry: retry, now: now)
        // A token with less than the refresh margin left is replaced, and not handed out meanwhile.
        let replaceAt: @Sendable (KeystoneToken) -> Date = { $0.expiresAt - Self.refreshMargin(for: $0, fixed: refreshMargin) }
        self.cache = ExpiringCache(clock: now, refreshAt: replaceAt, usableUntil: replaceAt) { try await authenticator.authenticate() }
    }

    /// A token with more than the refresh margin left: the cached one, or a new one.
    public func token() async throws -> KeystoneToken { try await cache.value() }

    /// Forgets the token (a service answered 401 to it), so the next call authenticates again.
    /// An authentication already in flight is kept: its token is new.
    public func invalidate() async { await cache.invalidate() }

    /// The URL (ending in `/`) of the catalog's `type` endpoint for this cloud's interface and
    /// region; without a region, the catalog's first region that has one.
    public func endpoint(type: String) async throws -> URL {
        let token = try await token()
        return try KeystoneCatalog.endpoint(type: type, in: token.catalog, interface: auth.interface,
                                            region: auth.region, authURL: auth.authURL)
    }

    /// Seconds before expiry at which `token` is replaced: 5 minutes (or `fixed`), never beyond
    /// half its lifetime.
    static func refreshMargin(for token: KeystoneToken, fixed: TimeInterval?) -> TimeInterval {
        let halfLife = max(0, token.expiresAt.timeIntervalSince(token.issuedAt)) / 2
        return min(fixed ?? 300, halfLife)
    }
}

/// One `POST /v3/auth/tokens`, its answer read into a `KeystoneToken` or a `CloudcError`.
/// No caching here; `KeystoneSession` caches.
struct KeystoneAuthenticator: Sendable {
    let auth: OpenStackAuth
    let transport: any HTTPTransport
    let retry: RetryPolicy
    let now: @Sendable () -> Date

    /// `<authURL>auth/tokens`; an auth URL built without its final `/` (`…/v3`) keeps its `v3`.
    var tokensURL: URL {
        let base = auth.authURL.absoluteString
        let text = (base.hasSuffix("/") ? base : base + "/") + "auth/tokens"
        return URL(string: text) ?? auth.authURL.appendingPathComponent("auth/tokens")
    }

    /// The request body (https://docs.openstack.org/api-ref/identity/v3/#password-authentication-with-scoped-authorization
    /// and #authenticating-with-an-application-credential). It holds the secret: never log it.
    static func body(_ auth: OpenStackAuth) -> JSONValue {
        switch auth.method {
        case let .password(username, password, userDomainName, userDomainID):
            let user: JSONValue = ["name": .string(username), "password": .string(password.value),
                                   "domain": domain(name: userDomainName, id: userDomainID)]
            var body: [String: JSONValue] = ["identity": ["methods": ["password"], "password": ["user": user]]]
            if let projectID = auth.projectID {
                body["scope"] = ["project": ["id": .string(projectID)]]
            } else if let projectName = auth.projectName {
                body["scope"] = ["project": ["name": .string(projectName),
                                             "domain": domain(name: auth.projectDomainName, id: auth.projectDomainID)]]
            }
            return ["auth": .object(body)]
        case let .applicationCredential(id, secret):
            return ["auth": ["identity": ["methods": ["application_credential"],
                                          "application_credential": ["id": .string(id), "secret": .string(secret.value)]]]]
        }
    }

    /// A domain by id when one is known, else by name (`Default` when neither is).
    static func domain(name: String?, id: String?) -> JSONValue {
        if let id { return ["id": .string(id)] }
        return ["name": .string(name ?? "Default")]
    }

    func authenticate() async throws -> KeystoneToken {
        let url = tokensURL
        let request = HTTPRequest(method: "POST", url: url,
                                  headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
                                  body: Self.body(auth).data)
        let transport = self.transport
        let askedAt = now()
        let response: HTTPResponse
        do {
            response = try await retry.run(shouldRetry: { $0 is PassingHTTPFailure || $0 is TransportError }) {
                let response = try await transport.send(request)
                if response.status == 429 || response.status >= 500 { throw PassingHTTPFailure(response: response) }
                return response
            }
        } catch let failure as PassingHTTPFailure {
            throw CloudcError(.unavailable, "Keystone at \(auth.authURL.absoluteString) failed: HTTP \(failure.response.status)"
                                  + (keystoneMessage(failure.response).map { ": \($0)" } ?? ""),
                              fix: "The cloud's identity service is failing; try again in a few minutes.")
        } catch let error as TransportError {
            throw CloudcError(.unavailable, "cannot reach Keystone at \(auth.authURL.absoluteString): \(error.text)",
                              fix: "Check auth_url (from \(auth.source)) and your network connection (VPN?).")
        }
        return try token(from: response, askedAt: askedAt)
    }

    /// Reads a 201 answer; turns anything else into a message that says who was refused and why.
    func token(from response: HTTPResponse, askedAt: Date) throws -> KeystoneToken {
        let authURL = auth.authURL.absoluteString
        guard response.status == 201 || response.status == 200 else { throw refusal(response) }
        let value = response.headers.first { $0.key.lowercased() == "x-subject-token" }?.value ?? ""
        guard !value.isEmpty else {
            throw CloudcError(.unavailable, "Keystone at \(authURL) answered HTTP \(response.status) without an X-Subject-Token header.",
                              fix: "Check that auth_url (from \(auth.source)) is Keystone's v3 URL, not a proxy's or the dashboard's.")
        }
        guard let token = JSONValue.parse(response.body)?["token"], token.object != nil else {
            throw CloudcError(.unavailable, "Keystone at \(authURL) answered without a token in its body.",
                              fix: "Check that auth_url (from \(auth.source)) is Keystone's v3 URL.")
        }
        guard let expiresText = token["expires_at"]?.string, let expires = Self.timestamp(expiresText) else {
            throw CloudcError(.unavailable, "Keystone at \(authURL) gave a token without a readable expires_at.",
                              fix: "Try again; if it persists, report it to the cloud's operators.")
        }
        guard let projectID = token["project"]?["id"]?.string, !projectID.isEmpty else {
            throw CloudcError(.credentials, "Keystone at \(authURL) gave \(auth.method) a token that is not scoped to a project.",
                              fix: "Name the project (project_name, or project_id) in \(auth.source).")
        }
        guard let catalogJSON = token["catalog"], !catalogJSON.items.isEmpty else {
            throw CloudcError(.credentials, "Keystone at \(authURL) gave \(auth.method) a token for project \(projectID) "
                                  + "without a service catalog.",
                              fix: "The user may have no role in that project: ask the cloud's operators to give it one "
                                  + "(e.g. member), or use another project.")
        }
        // The token's lifetime, counted on this machine's clock from when it was asked for, so
        // a clock that differs from Keystone's neither keeps a dead token nor refreshes forever.
        let lifetime: TimeInterval
        if let issuedText = token["issued_at"]?.string, let issued = Self.timestamp(issuedText) {
            lifetime = expires.timeIntervalSince(issued)
        } else {
            lifetime = expires.timeIntervalSince(askedAt)
        }
        return KeystoneToken(value: Secret(value), expiresAt: askedAt + max(lifetime, 0), issuedAt: askedAt,
                             projectID: projectID, catalog: Self.catalog(catalogJSON))
    }

    func refusal(_ response: HTTPResponse) -> CloudcError {
        let authURL = auth.authURL.absoluteString
        let said = keystoneMessage(response).map { ": \($0)" } ?? ""
        let project = auth.projectPhrase.map { " for \($0)" } ?? ""
        switch response.status {
        case 401:
            let fix: String
            switch auth.method {
            case .password:
                fix = "Check the password, and the user, project and domain names, in \(auth.source) "
                    + "(`openstack token issue` with the same settings shows whether they work)."
            case .applicationCredential:
                fix = "Check application_credential_id and application_credential_secret in \(auth.source); "
                    + "the credential may have expired or been deleted (`openstack application credential list`)."
            }
            return CloudcError(.credentials, "Keystone at \(authURL) refused \(auth.method)\(project), from \(auth.source)\(said)",
                               fix: fix)
        case 403:
            return CloudcError(.permission, "Keystone at \(authURL) forbids \(auth.method)\(project) a token, from \(auth.source)\(said)",
                               fix: "Ask the cloud's operators for a role in the project, or use another project or credential.")
        case 404:
            return CloudcError(.config, "Keystone at \(authURL) has no auth/tokens (HTTP 404)\(said): is auth_url Keystone's v3 URL?",
                               fix: "Set auth_url (in \(auth.source)) to Keystone's URL, e.g. https://keystone.example.org:5000/v3.")
        case 400:
            return CloudcError(.config, "Keystone at \(authURL) rejected the sign-in request of \(auth.method)\(project)\(said)",
                               fix: "Check the user, project and domain names in \(auth.source).")
        default:
            return CloudcError(.unavailable, "Keystone at \(authURL) answered HTTP \(response.status)\(said)",
                               fix: "Check that auth_url (in \(auth.source)) is Keystone's v3 URL; if it is, try again later.")
        }
    }

    /// Keystone's `error.message`, with the password or secret blanked should it ever be echoed.
    func keystoneMessage(_ response: HTTPResponse) -> String? {
        guard let message = JSONValue.parse(response.body)?["error"]?["message"]?.string, !message.isEmpty else { return nil }
        let secret: String
        switch auth.method {
        case .password(_, let password, _, _): secret = password.value
        case .applicationCredential(_, let value): secret = value.value
        }
        return secret.isEmpty ? message : message.replacingOccurrences(of: secret, with: "<redacted>")
    }

    static func catalog(_ json: JSONValue) -> [KeystoneService] {
        json.items.compactMap { service in
            guard let type = service["type"]?.string else { return nil }
            let endpoints = service["endpoints"]?.items.compactMap { endpoint -> KeystoneEndpoint? in
                guard let url = endpoint["url"]?.string, !url.isEmpty else { return nil }
                let region = [endpoint["region_id"]?.string, endpoint["region"]?.string].compactMap { $0 }.first { !$0.isEmpty }
                return KeystoneEndpoint(interface: endpoint["interface"]?.string ?? "public", region: region, url: url)
            } ?? []
            return KeystoneService(type: type, name: service["name"]?.string ?? "", endpoints: endpoints)
        }
    }

    /// Keystone's ISO 8601 times: `2026-11-22T04:00:00.000000Z` (microseconds), with or without
    /// a fraction, `Z` or an offset.
    static func timestamp(_ text: String) -> Date? {
        var whole = text.trimmingCharacters(in: .whitespaces)
        var fraction: TimeInterval = 0
        if let dot = whole.firstIndex(of: ".") {
            let digitsEnd = whole[whole.index(after: dot)...].firstIndex { !$0.isNumber } ?? whole.endIndex
            fraction = TimeInterval("0" + whole[dot..<digitsEnd]) ?? 0
            whole = String(whole[..<dot] + whole[digitsEnd...])
        }
        if let time = whole.firstIndex(of: "T"), !whole[time...].contains(where: { $0 == "Z" || $0 == "+" || $0 == "-" }) {
            whole += "Z"   // no zone: Keystone means UTC
        }
        return ISO8601DateFormatter().date(from: whole).map { $0 + fraction }
    }
}

/// Picks endpoints out of a service catalog.
enum KeystoneCatalog {
    /// The `type` endpoint with `interface` in `region`; with no region, in the first region of the
    /// catalog (in its order) that has one, so all services come from one region.
    static func endpoint(type: String, in catalog: [KeystoneService], interface: String, region: String?,
                         authURL: URL) throws -> URL {
        let services = catalog.filter { $0.type == type }
        let candidates = services.flatMap(\.endpoints).filter { $0.interface == interface }
        let chosen: KeystoneEndpoint?
        if let region {
            chosen = candidates.first { $0.region == region }
        } else {
            let regions = catalog.flatMap(\.endpoints).map(\.region)
            chosen = regions.lazy.compactMap { region in candidates.first { $0.region == region } }.first ?? candidates.first
        }
        guard let chosen else {
            throw missing(type: type, services: services, catalog: catalog, interface: interface, region: region, authURL: authURL)
        }
        let text = chosen.url.hasSuffix("/") ? chosen.url : chosen.url + "/"
        guard let url = URL(string: text), url.scheme != nil, url.host != nil else {
            throw CloudcError(.unavailable, "the catalog of \(authURL.absoluteString) gives the \(type) endpoint '\(chosen.url)', which is not a URL",
                              fix: "Report it to the cloud's operators.")
        }
        return url
    }

    static func missing(type: String, services: [KeystoneService], catalog: [KeystoneService], interface: String,
                        region: String?, authURL: URL) -> CloudcError {
        let forRegion = region.map { "for region \($0)" } ?? "in any region"
        let what = "the catalog of \(authURL.absoluteString) has no \(type) endpoint \(forRegion) (interface \(interface))"
        guard !services.isEmpty else {
            let types = Array(Set(catalog.map(\.type))).sorted()
            return CloudcError(.config, "\(what); it has: \(types.isEmpty ? "no services" : types.joined(separator: ", "))",
                               fix: "This cloud offers no \(type) service to this project (`openstack catalog list` shows "
                                   + "what it has); cloudc needs compute, network and image.")
        }
        let endpoints = services.flatMap(\.endpoints)
        let has = endpoints.map { "\(type) \($0.interface) in \($0.region ?? "no region")" }
        let regionsWithInterface = unique(endpoints.filter { $0.interface == interface }.compactMap(\.region))
        let interfacesInRegion = unique(endpoints.filter { region == nil || $0.region == region }.map(\.interface))
        let fix: String
        if !regionsWithInterface.isEmpty {
            fix = "Set region: (in the cloud's settings, or region_name in clouds.yaml) to one of: \(regionsWithInterface.joined(separator: ", "))."
        } else if !interfacesInRegion.isEmpty {
            fix = "Set interface: in the cloud's settings to one of: \(interfacesInRegion.joined(separator: ", "))."
        } else {
            fix = "Set region: and interface: in the cloud's settings to one of the pairs the catalog has."
        }
        return CloudcError(.config, "\(what); it has: \(unique(has).joined(separator: ", "))", fix: fix)
    }

    static func unique(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }
}

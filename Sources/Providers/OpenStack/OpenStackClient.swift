import CloudcCore
import Foundation

/// Where a service's calls get their token and base URL: Keystone, or a fixed pair in tests.
public protocol OpenStackServiceAuth: Sendable {
    /// The current project-scoped token.
    func currentToken() async throws -> Secret
    /// Forget the token (a service answered 401); the next call authenticates again.
    func forgetToken() async
    /// The catalog's URL for a service type (`compute`, `network`, `image`), ending with `/`.
    func serviceURL(_ type: OpenStackService) async throws -> URL
}

extension KeystoneSession: OpenStackServiceAuth {
    public func currentToken() async throws -> Secret { try await token().value }
    public func forgetToken() async { await invalidate() }
    public func serviceURL(_ type: OpenStackService) async throws -> URL { try await endpoint(type: type.rawValue) }
}

/// The three OpenStack services cloudc uses, by catalog type.
public enum OpenStackService: String, Sendable {
    case compute, network, image

    /// The name users know it by, for messages.
    var projectName: String {
        switch self {
        case .compute: "Nova"
        case .network: "Neutron"
        case .image: "Glance"
        }
    }

    /// The API version path below the catalog URL (Nova's catalog URL already holds `v2.1`).
    func versionedPath(_ base: URL) -> String {
        let text = base.absoluteString
        switch self {
        case .compute: return text
        case .network: return text.hasSuffix("/v2.0/") ? text : text + "v2.0/"
        case .image: return text.hasSuffix("/v2/") ? text : text + "v2/"
        }
    }
}

/// An OpenStack API's refusal: the status, the error's kind (Nova's `itemNotFound`,
/// Neutron's `NeutronError.type`) and its message.
public struct OpenStackAPIError: Error, Sendable, Equatable, CustomStringConvertible, HTTPStatusError {
    public var service: OpenStackService
    /// What was asked, e.g. "POST servers".
    public var call: String
    public var status: Int
    public var kind: String?
    public var message: String

    public init(service: OpenStackService, call: String, status: Int, kind: String? = nil, message: String) {
        self.service = service; self.call = call; self.status = status; self.kind = kind; self.message = message
    }

    public var description: String {
        "\(service.projectName) \(call) answered \(status)\(kind.map { " \($0)" } ?? ""): \(message)"
    }

    /// Nova `{"itemNotFound": {"code": 404, "message": …}}`, Neutron `{"NeutronError": {"type", "message"}}`,
    /// keystonemiddleware `{"error": {"code", "title", "message"}}`, or plain text (Glance).
    static func from(_ response: HTTPResponse, service: OpenStackService, call: String) -> OpenStackAPIError {
        var kind: String?
        var message = response.text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let json = JSONValue.parse(response.body), let object = json.object {
            if let neutron = object["NeutronError"] {
                kind = neutron["type"]?.string
                message = neutron["message"]?.string ?? message
            } else if let error = object["error"], let text = error["message"]?.string {
                kind = error["title"]?.string
                message = text
            } else if object.count == 1, let (key, value) = object.first, let text = value["message"]?.string {
                kind = key
                message = text
            } else if let text = object["message"]?.string {
                message = text
            }
        } else if message.contains("<") {
            // Glance and proxies answer HTML: keep the words, not the markup.
            message = message.replacingOccurrences(of: "<[^>]+>", with: " ", options: .regularExpression)
                .split(whereSeparator: \.isWhitespace).joined(separator: " ")
        }
        if message.count > 500 { message = String(message.prefix(500)) + "…" }
        if message.isEmpty { message = "no message" }
        return OpenStackAPIError(service: service, call: call, status: response.status, kind: kind, message: message)
    }

    /// Worth another try: throttled, or the service failed for a moment.
    var isRetryable: Bool { status == 429 || status == 502 || status == 503 || status == 504 }
}

/// Nova, Neutron and Glance over their REST APIs, with a Keystone token.
///
/// GETs and DELETEs are retried on throttling, passing server errors and lost connections;
/// a POST is sent once (OpenStack has no idempotency tokens: callers look before they retry).
/// A 401 makes the token be fetched again, once.
public struct OpenStackClient: Sendable {
    let auth: any OpenStackServiceAuth
    let transport: any HTTPTransport
    let retry: RetryPolicy

    public init(auth: any OpenStackServiceAuth, transport: any HTTPTransport, retry: RetryPolicy = RetryPolicy()) {
        self.auth = auth; self.transport = transport; self.retry = retry
    }

    /// Sends one call; returns the JSON answer (`null` for an empty body).
    public func call(_ service: OpenStackService, _ method: String, _ path: String,
                     query: [(String, String)] = [], body: JSONValue? = nil) async throws -> JSONValue {
        let base = service.versionedPath(try await auth.serviceURL(service))
        var text = base + path
        if !query.isEmpty { text += "?" + FormEncoding.query(query) }
        guard let url = URL(string: text) else {
            throw CloudcError(.internalError, "\(service.projectName): cannot make a URL of \(text)")
        }
        let name = "\(method) \(path.split(separator: "?").first.map(String.init) ?? path)"
        let auth = self.auth
        let caller = TokenJSONClient(
            header: { ("X-Auth-Token", $0.value) },
            token: { try await auth.currentToken() }, forgetToken: { await auth.forgetToken() },
            refusal: { OpenStackAPIError.from($0, service: service, call: name) },
            malformed: { OpenStackAPIError(service: service, call: name, status: $0, kind: "malformedResponse",
                                           message: "the answer is not JSON") },
            isRetryable: { ($0 as? OpenStackAPIError)?.isRetryable ?? false },
            transport: transport, retry: retry)
        return try await caller.call(method, url, body: body, idempotent: method != "POST")
    }

    /// Like `call`, but nil for a 404.
    func callIfExists(_ service: OpenStackService, _ method: String, _ path: String,
                      query: [(String, String)] = []) async throws -> JSONValue? {
        do {
            return try await call(service, method, path, query: query)
        } catch let error as OpenStackAPIError where error.status == 404 {
            return nil
        }
    }

    /// One path segment, percent-encoded.
    static func segment(_ text: String) -> String { FormEncoding.encode(text, spaceAsPlus: false) }

    // MARK: Nova

    /// Every flavor with its details.
    public func flavors() async throws -> [JSONValue] {
        try await call(.compute, "GET", "flavors/detail")["flavors"]?.items ?? []
    }

    public func flavorExtraSpecs(_ id: String) async throws -> [String: String] {
        let json = try await call(.compute, "GET", "flavors/\(Self.segment(id))/os-extra_specs")
        return (json["extra_specs"]?.object ?? [:]).compactMapValues(\.string)
    }

    public func keypair(_ name: String) async throws -> JSONValue? {
        try await callIfExists(.compute, "GET", "os-keypairs/\(Self.segment(name))")?["keypair"]
    }

    public func importKeypair(name: String, publicKey: String) async throws {
        _ = try await call(.compute, "POST", "os-keypairs",
                           body: ["keypair": ["name": .string(name), "public_key": .string(publicKey)]])
    }

    public func deleteKeypair(_ name: String) async throws {
        _ = try await callIfExists(.compute, "DELETE", "os-keypairs/\(Self.segment(name))")
    }

    /// POST /servers; the answer's `server` (id, adminPass, links).
    public func createServer(_ body: JSONValue) async throws -> JSONValue {
        try await call(.compute, "POST", "servers", body: ["server": body])["server"] ?? .null
    }

    /// Servers with details whose name matches `nameRegex` (Nova filters names by regular expression).
    public func servers(nameRegex: String) async throws -> [JSONValue] {
        var all: [JSONValue] = []
        var marker: String?
        repeat {
            var query = [("name", nameRegex), ("limit", "500")]
            if let marker { query.append(("marker", marker)) }
            let page = try await call(.compute, "GET", "servers/detail", query: query)
            let items = page["servers"]?.items ?? []
            all += items
            let hasNext = (page["servers_links"]?.items ?? []).contains { $0["rel"]?.string == "next" }
            marker = hasNext ? items.last?["id"]?.string : nil
        } while marker != nil
        return all
    }

    public func server(_ id: String) async throws -> JSONValue? {
        try await callIfExists(.compute, "GET", "servers/\(Self.segment(id))")?["server"]
    }

    /// Deletes a server; true if it was there.
    @discardableResult
    public func deleteServer(_ id: String) async throws -> Bool {
        try await callIfExists(.compute, "DELETE", "servers/\(Self.segment(id))") != nil
    }

    public func setServerMetadata(_ id: String, key: String, value: String) async throws {
        _ = try await call(.compute, "PUT", "servers/\(Self.segment(id))/metadata/\(Self.segment(key))",
                           body: ["meta": [key: .string(value)]])
    }

    /// The server's console log (`os-getConsoleOutput`, whole), or nil when the server is gone or
    /// not yet placed on a host (Nova answers 404 and 409).
    public func consoleOutput(_ id: String) async throws -> String? {
        do {
            return try await call(.compute, "POST", "servers/\(Self.segment(id))/action",
                                  body: ["os-getConsoleOutput": [:]])["output"]?.string
        } catch let error as OpenStackAPIError where error.status == 404 || error.status == 409 {
            return nil
        }
    }

    // MARK: Glance

    public func images(named name: String) async throws -> [JSONValue] {
        try await call(.image, "GET", "images", query: [("name", name)])["images"]?.items ?? []
    }

    public func image(id: String) async throws -> JSONValue? {
        try await callIfExists(.image, "GET", "images/\(Self.segment(id))")
    }

    // MARK: Neutron

    public func networks(named name: String) async throws -> [JSONValue] {
        try await call(.network, "GET", "networks", query: [("name", name)])["networks"]?.items ?? []
    }

    public func network(id: String) async throws -> JSONValue? {
        try await callIfExists(.network, "GET", "networks/\(Self.segment(id))")?["network"]
    }

    public func allNetworks() async throws -> [JSONValue] {
        try await call(.network, "GET", "networks")["networks"]?.items ?? []
    }

    /// Every security group the project sees.
    public func securityGroups() async throws -> [JSONValue] {
        try await call(.network, "GET", "security-groups")["security_groups"]?.items ?? []
    }

    public func securityGroups(named name: String) async throws -> [JSONValue] {
        try await call(.network, "GET", "security-groups", query: [("name", name)])["security_groups"]?.items ?? []
    }

    public func securityGroup(id: String) async throws -> JSONValue? {
        try await callIfExists(.network, "GET", "security-groups/\(Self.segment(id))")?["security_group"]
    }

    public func createSecurityGroup(name: String, description: String) async throws -> JSONValue {
        try await call(.network, "POST", "security-groups",
                       body: ["security_group": ["name": .string(name), "description": .string(description)]])["security_group"] ?? .null
    }

    /// Deletes a security group; true if it was there.
    @discardableResult
    public func deleteSecurityGroup(id: String) async throws -> Bool {
        try await callIfExists(.network, "DELETE", "security-groups/\(Self.segment(id))") != nil
    }

    public func createSecurityGroupRule(_ rule: JSONValue) async throws {
        _ = try await call(.network, "POST", "security-group-rules", body: ["security_group_rule": rule])
    }

    public func ports(deviceID: String) async throws -> [JSONValue] {
        try await call(.network, "GET", "ports", query: [("device_id", deviceID)])["ports"]?.items ?? []
    }

    public func floatingIPs(description: String? = nil, portID: String? = nil) async throws -> [JSONValue] {
        var query: [(String, String)] = []
        if let description { query.append(("description", description)) }
        if let portID { query.append(("port_id", portID)) }
        return try await call(.network, "GET", "floatingips", query: query)["floatingips"]?.items ?? []
    }

    public func createFloatingIP(networkID: String, portID: String?, description: String) async throws -> JSONValue {
        var body: [String: JSONValue] = ["floating_network_id": .string(networkID), "description": .string(description)]
        if let portID { body["port_id"] = .string(portID) }
        return try await call(.network, "POST", "floatingips", body: ["floatingip": .object(body)])["floatingip"] ?? .null
    }

    public func associateFloatingIP(_ id: String, portID: String) async throws -> JSONValue {
        try await call(.network, "PUT", "floatingips/\(Self.segment(id))",
                       body: ["floatingip": ["port_id": .string(portID)]])["floatingip"] ?? .null
    }

    /// Releases a floating IP; true if it was there.
    @discardableResult
    public func deleteFloatingIP(_ id: String) async throws -> Bool {
        try await callIfExists(.network, "DELETE", "floatingips/\(Self.segment(id))") != nil
    }
}

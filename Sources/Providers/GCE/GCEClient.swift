import CloudcCore
import Foundation

/// Compute Engine's REST API (v1): JSON over HTTPS with a bearer token.
///
/// Each call names itself as the API's method does (`instances.insert`), so errors say
/// which call failed. Rate limits, server errors and lost connections are retried with
/// backoff and jitter; everything else fails at once.
public struct GCEClient: Sendable {
    public static let defaultBaseURL = "https://compute.googleapis.com/compute/v1/"

    /// Ends with `/`; paths such as `projects/P/zones/Z` are appended to it.
    public let baseURL: URL
    public let project: String
    let auth: GoogleTokenSource
    let transport: HTTPTransport
    let retry: RetryPolicy
    /// How long to keep waiting on one operation, all `wait` calls together.
    let operationTimeout: TimeInterval
    /// Pause after a `wait` that came back early without the operation done.
    let operationPause: TimeInterval

    public init(baseURL: URL, project: String, auth: GoogleTokenSource, transport: HTTPTransport,
                retry: RetryPolicy = RetryPolicy(), operationTimeout: TimeInterval = 900, operationPause: TimeInterval = 1) {
        self.baseURL = baseURL; self.project = project; self.auth = auth; self.transport = transport
        self.retry = retry; self.operationTimeout = operationTimeout; self.operationPause = operationPause
    }

    /// The base URL for a cloud's `endpoint:`: Google's when none; a bare host
    /// (`http://127.0.0.1:8080`) gets Google's path `/compute/v1/`; a trailing `/` is added.
    public static func baseURL(endpoint: String?) -> URL? {
        var text = endpoint.flatMap { $0.isEmpty ? nil : $0 } ?? defaultBaseURL
        guard let url = URL(string: text), let scheme = url.scheme, scheme == "http" || scheme == "https", url.host != nil else {
            return nil
        }
        if url.path.isEmpty || url.path == "/" {
            text = text.hasSuffix("/") ? text + "compute/v1/" : text + "/compute/v1/"
        } else if !text.hasSuffix("/") {
            text += "/"
        }
        return URL(string: text)
    }

    // MARK: calls

    /// Sends one API call; returns the JSON answer (`null` for an empty body).
    /// `path` is relative to the base URL, its segments already safe.
    public func call(_ name: String, _ method: String, _ path: String,
                     query: [(String, String)] = [], body: JSONValue? = nil) async throws -> JSONValue {
        var text = baseURL.absoluteString + path
        if !query.isEmpty { text += "?" + FormEncoding.query(query) }
        guard let url = URL(string: text) else {
            throw CloudcError(.internalError, "GCE \(name): cannot make a URL of \(text)")
        }
        return try await json(name).call(method, url, body: body)
    }

    /// The token-carrying JSON caller for one named call (errors say which).
    func json(_ name: String) -> TokenJSONClient {
        let auth = self.auth
        return TokenJSONClient(
            header: { ("Authorization", "Bearer \($0.value)") },
            token: { try await auth.accessToken() }, forgetToken: { await auth.invalidate() },
            refusal: { GCEAPIError.from($0, call: name) },
            malformed: { GCEAPIError(call: name, status: $0, reason: "malformedResponse", message: "the answer is not JSON") },
            isRetryable: { ($0 as? GCEAPIError)?.isRetryable ?? false },
            transport: transport, retry: retry)
    }

    // MARK: paths

    /// `projects/<project>/<rest>`.
    func projectPath(_ rest: String) -> String { "projects/\(Self.segment(project))/\(rest)" }

    func zonePath(_ zone: String, _ rest: String) -> String {
        projectPath("zones/\(Self.segment(zone))" + (rest.isEmpty ? "" : "/\(rest)"))
    }

    /// One path segment, percent-encoded (project ids such as `example.com:p` have a colon).
    static func segment(_ text: String) -> String { FormEncoding.encode(text, spaceAsPlus: false) }

    // MARK: typed calls

    public func zone(_ zone: String) async throws -> JSONValue {
        try await call("zones.get", "GET", zonePath(zone, ""))
    }

    public func machineType(_ name: String, zone: String) async throws -> JSONValue {
        try await call("machineTypes.get", "GET", zonePath(zone, "machineTypes/\(Self.segment(name))"))
    }

    public func acceleratorType(_ name: String, zone: String) async throws -> JSONValue {
        try await call("acceleratorTypes.get", "GET", zonePath(zone, "acceleratorTypes/\(Self.segment(name))"))
    }

    public func image(_ reference: GCEImageReference) async throws -> JSONValue {
        let base = "projects/\(Self.segment(reference.project))/global/images/"
        switch reference.kind {
        case .family(let family):
            return try await call("images.getFromFamily", "GET", base + "family/\(Self.segment(family))")
        case .name(let name):
            return try await call("images.get", "GET", base + Self.segment(name))
        }
    }

    public func insertInstance(_ body: JSONValue, zone: String, requestID: String) async throws -> GCEOperation {
        GCEOperation(try await call("instances.insert", "POST", zonePath(zone, "instances"),
                                    query: [("requestId", requestID)], body: body))
    }

    public func instance(_ name: String, zone: String) async throws -> JSONValue {
        try await call("instances.get", "GET", zonePath(zone, "instances/\(Self.segment(name))"))
    }

    /// Every instance of the project matching `filter`, in every zone (`instances.aggregatedList`:
    /// `items` maps each zone to its instances or to a warning that it has none).
    public func aggregatedInstances(filter: String) async throws -> [JSONValue] {
        var found: [JSONValue] = []
        var pageToken: String?
        repeat {
            var query = [("filter", filter), ("maxResults", "500")]
            if let pageToken { query.append(("pageToken", pageToken)) }
            let page = try await call("instances.aggregatedList", "GET", projectPath("aggregated/instances"), query: query)
            for scope in (page["items"]?.object ?? [:]).values { found += scope["instances"]?.items ?? [] }
            pageToken = page["nextPageToken"]?.string.flatMap { $0.isEmpty ? nil : $0 }
        } while pageToken != nil
        return found
    }

    /// Every firewall rule of the project.
    public func firewalls() async throws -> [JSONValue] {
        try await pages("firewalls.list", projectPath("global/firewalls"), query: [("maxResults", "500")])
    }

    /// Every machine type of `zone`.
    public func machineTypes(zone: String) async throws -> [JSONValue] {
        try await pages("machineTypes.list", zonePath(zone, "machineTypes"), query: [("maxResults", "500")])
    }

    /// A list call's `items` (or `listKey`), page after page until no `nextPageToken`.
    public func pages(_ name: String, _ path: String, query: [(String, String)], listKey: String = "items") async throws -> [JSONValue] {
        var found: [JSONValue] = []
        var pageToken: String?
        repeat {
            var pageQuery = query
            if let pageToken { pageQuery.append(("pageToken", pageToken)) }
            let page = try await call(name, "GET", path, query: pageQuery)
            found += page[listKey]?.items ?? []
            pageToken = page["nextPageToken"]?.string.flatMap { $0.isEmpty ? nil : $0 }
        } while pageToken != nil
        return found
    }

    /// The guest attributes under `queryPath` (`hostkeys/`: what the guest agent publishes).
    public func guestAttributes(_ name: String, zone: String, queryPath: String) async throws -> JSONValue {
        try await call("instances.getGuestAttributes", "GET", zonePath(zone, "instances/\(Self.segment(name))/getGuestAttributes"),
                       query: [("queryPath", queryPath)])
    }

    public func deleteInstance(_ name: String, zone: String) async throws -> GCEOperation {
        GCEOperation(try await call("instances.delete", "DELETE", zonePath(zone, "instances/\(Self.segment(name))")))
    }

    public func setLabels(_ labels: [String: String], fingerprint: String, instance name: String, zone: String) async throws -> GCEOperation {
        let body: JSONValue = ["labels": .object(labels.mapValues { .string($0) }), "labelFingerprint": .string(fingerprint)]
        return GCEOperation(try await call("instances.setLabels", "POST", zonePath(zone, "instances/\(Self.segment(name))/setLabels"), body: body))
    }

    public func insertFirewall(_ body: JSONValue, requestID: String) async throws -> GCEOperation {
        GCEOperation(try await call("firewalls.insert", "POST", projectPath("global/firewalls"),
                                    query: [("requestId", requestID)], body: body))
    }

    public func firewall(_ name: String) async throws -> JSONValue {
        try await call("firewalls.get", "GET", projectPath("global/firewalls/\(Self.segment(name))"))
    }

    public func deleteFirewall(_ name: String) async throws -> GCEOperation {
        GCEOperation(try await call("firewalls.delete", "DELETE", projectPath("global/firewalls/\(Self.segment(name))")))
    }

    /// Waits until `operation` is DONE (zoneOperations.wait or globalOperations.wait, each of
    /// which returns after at most two minutes), and returns it, errors included.
    public func wait(_ operation: GCEOperation) async throws -> GCEOperation {
        var current = operation
        let deadline = Date() + operationTimeout
        while !current.isDone {
            guard Date() < deadline else {
                throw CloudcError(.timeout, "GCE operation \(operation.name) (\(operation.kind)) was not done after \(Int(operationTimeout)) s",
                                  fix: "run the command again: it resumes where it stopped")
            }
            let started = Date()
            let path: String
            let name: String
            if let zone = current.zone {
                path = zonePath(zone, "operations/\(Self.segment(current.name))/wait")
                name = "zoneOperations.wait"
            } else {
                path = projectPath("global/operations/\(Self.segment(current.name))/wait")
                name = "globalOperations.wait"
            }
            current = GCEOperation(try await call(name, "POST", path))
            if !current.isDone, Date().timeIntervalSince(started) < operationPause, operationPause > 0 {
                try await Task.sleep(nanoseconds: UInt64(operationPause * 1_000_000_000))
            }
        }
        return current
    }
}

/// An image as the config names it: `projects/P/global/images/family/F`,
/// `projects/P/global/images/NAME`, a full URL of either, or a bare name in the cloud's project.
public struct GCEImageReference: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case family(String)
        case name(String)
    }

    public var project: String
    public var kind: Kind

    public init(project: String, kind: Kind) { self.project = project; self.kind = kind }

    /// Nil for text of none of those forms.
    public init?(_ text: String, defaultProject: String) {
        var path = text
        if let range = path.range(of: "projects/") {
            path = String(path[range.lowerBound...])
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 1, let name = parts.first, !name.isEmpty {
            self.init(project: defaultProject, kind: .name(name))
            return
        }
        guard parts.count >= 5, parts[0] == "projects", !parts[1].isEmpty, parts[2] == "global", parts[3] == "images" else {
            return nil
        }
        if parts.count == 6, parts[4] == "family", !parts[5].isEmpty {
            self.init(project: parts[1], kind: .family(parts[5]))
        } else if parts.count == 5, !parts[4].isEmpty {
            self.init(project: parts[1], kind: .name(parts[4]))
        } else {
            return nil
        }
    }

    public var description: String {
        switch kind {
        case .family(let family): return "projects/\(project)/global/images/family/\(family)"
        case .name(let name): return "projects/\(project)/global/images/\(name)"
        }
    }
}

/// A Compute Engine operation: what a create or delete answers, and what `wait` returns.
public struct GCEOperation: Sendable, Equatable {
    public struct Failure: Sendable, Equatable {
        public var code: String
        public var message: String
    }

    public var name: String
    /// The zone of a zonal operation; nil for a global one.
    public var zone: String?
    public var kind: String
    public var status: String
    public var errors: [Failure]
    public var targetLink: String?
    public var targetID: String?
    /// The HTTP status Google gives a failed operation (`httpErrorStatusCode`).
    public var httpStatus: Int?

    public init(_ json: JSONValue) {
        name = json["name"]?.string ?? ""
        zone = json["zone"]?.string.map { lastSegment($0) }
        kind = json["operationType"]?.string ?? "operation"
        status = json["status"]?.string ?? ""
        errors = (json["error"]?["errors"]?.items ?? []).map {
            Failure(code: $0["code"]?.string ?? "", message: $0["message"]?.string ?? "")
        }
        targetLink = json["targetLink"]?.string
        targetID = json["targetId"]?.string
        httpStatus = json["httpErrorStatusCode"]?.int
    }

    public var isDone: Bool { status == "DONE" }
}

/// `https://…/zones/us-central1-a` → `us-central1-a`.
func lastSegment(_ text: String) -> String {
    text.split(separator: "/").last.map(String.init) ?? text
}

/// An error answer from the Compute API: `{"error": {"code", "message", "errors": [{"reason"}], "status"}}`.
public struct GCEAPIError: Error, Sendable, CustomStringConvertible, HTTPStatusError {
    public var call: String
    public var status: Int
    /// `errors[0].reason`: `notFound`, `alreadyExists`, `quotaExceeded`, `rateLimitExceeded`, …
    public var reason: String?
    public var message: String
    /// The canonical status name (`PERMISSION_DENIED`, …), where given.
    public var googleStatus: String?

    public init(call: String, status: Int, reason: String?, message: String, googleStatus: String? = nil) {
        self.call = call; self.status = status; self.reason = reason; self.message = message; self.googleStatus = googleStatus
    }

    public var description: String {
        "GCE \(call) failed: \(status)\(reason.map { " \($0)" } ?? ""): \(message)"
    }

    static let passingReasons: Set<String> = ["rateLimitExceeded", "userRateLimitExceeded", "backendError", "internalError"]

    /// Worth trying again: rate limits and Google's own failures.
    public var isRetryable: Bool {
        status == 429 || status >= 500 || (status == 403 && reason.map { Self.passingReasons.contains($0) } == true)
    }

    static func from(_ response: HTTPResponse, call: String) -> GCEAPIError {
        let error = JSONValue.parse(response.body)?["error"]
        var message = error?["message"]?.string ?? error?["errors"]?[0]?["message"]?.string ?? ""
        if message.isEmpty { message = "HTTP \(response.status)" }
        // Google's message quotes resources, never credentials; cut it to a readable length anyway.
        if message.count > 600 { message = String(message.prefix(600)) + "…" }
        return GCEAPIError(call: call, status: response.status, reason: error?["errors"]?[0]?["reason"]?.string,
                           message: message, googleStatus: error?["status"]?.string)
    }
}

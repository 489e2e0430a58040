import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A local Google Compute Engine on 127.0.0.1 (`Tests/peers/gce_peer.py`): Google's OAuth
/// token endpoint and the Compute v1 API, every request body checked against Google's own
/// discovery document. Each peer has its own test service account (a key file exactly like
/// one Google issues, whose `token_uri` stays Google's), a second key file for the same
/// account with another key, and gcloud-style application-default credentials.
///
/// Point cloudc at it with the cloud's `endpoint:` (`computeEndpoint`) and `token_endpoint:`
/// (`tokenEndpoint`). Stopped by PID with SIGKILL.
public final class GCEPeer: Sendable {
    public let port: Int
    /// `http://127.0.0.1:PORT`
    public let baseURL: String
    /// `http://127.0.0.1:PORT/compute/v1/`: what cloudc's `endpoint:` names.
    public let computeEndpoint: String
    /// `http://127.0.0.1:PORT/token`: where tokens are asked for (the JWT's audience stays Google's).
    public let tokenEndpoint: String
    public let project: String
    /// A service-account JSON key, as Google issues it.
    public let credentialsPath: String
    /// The same account and key id, signed with another key: Google answers `invalid_grant`.
    public let wrongKeyCredentialsPath: String
    /// gcloud's application-default credentials (`type: authorized_user`, a refresh token).
    public let authorizedUserPath: String
    public let serviceAccountEmail: String
    public let directory: TemporaryDirectory
    let daemon: Daemon

    /// The Compute scope; what cloudc asks for.
    public static let computeScope = "https://www.googleapis.com/auth/compute"

    /// Starts a fresh peer, runs `body`, and always stops the peer by PID.
    public static func with<T>(project: String = "cloudc-test", stepSeconds: Double = 0.3,
                               _ body: (GCEPeer) async throws -> T) async throws -> T {
        let peer = try await GCEPeer(project: project, stepSeconds: stepSeconds)
        defer { peer.stop() }
        return try await body(peer)
    }

    /// `stepSeconds`: how long an instance stays in each of PROVISIONING and STAGING (and STOPPING).
    public init(project: String = "cloudc-test", stepSeconds: Double = 0.3) async throws {
        let discovery = try await GCEPeer.discoveryDocument()
        let directory = try TemporaryDirectory("cloudc-gce-peer")
        let make = try await Run.programOffPool("/usr/bin/env", ["python3", Paths.peers + "/gce_credentials.py", "make",
                                                    directory.path, "--project", project])
        guard make.status == 0, let made = try? JSONSerialization.jsonObject(with: Data(make.stdout.utf8)) as? [String: String],
              let email = made["client_email"] else {
            throw PeerError("gce_credentials.py could not make test credentials (python3 with cryptography is needed: "
                + "scripts/install-deps.sh): \(make.stderr.suffix(2000))")
        }
        let portFile = directory.path + "/port"
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONUNBUFFERED"] = "1"
        let daemon = try Daemon("/usr/bin/env", [
            "python3", Paths.peers + "/gce_peer.py", "--discovery", discovery,
            "--accounts", directory.path + "/accounts.json", "--project", project,
            "--port-file", portFile, "--step-seconds", String(stepSeconds),
        ], environment: environment, logPath: directory.path + "/gce-peer.log")
        // The peer writes its port once it listens (the file appears whole: it is renamed into place).
        let port = try await daemon.waitUntilReady("the GCE peer", seconds: 15) {
            (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        self.port = port
        self.baseURL = "http://127.0.0.1:\(port)"
        self.computeEndpoint = "http://127.0.0.1:\(port)/compute/v1/"
        self.tokenEndpoint = "http://127.0.0.1:\(port)/token"
        self.project = project
        self.credentialsPath = directory.path + "/service-account.json"
        self.wrongKeyCredentialsPath = directory.path + "/service-account-wrong-key.json"
        self.authorizedUserPath = directory.path + "/authorized-user.json"
        self.serviceAccountEmail = email
        self.directory = directory
        self.daemon = daemon
    }

    public func stop() { daemon.stop() }

    /// What the peer wrote to stderr: one line per request (secrets left out).
    public var log: String { daemon.log }

    /// The path of a project's Compute collection, as fault prefixes name it:
    /// `computePath("zones/us-central1-a/instances")` → `/compute/v1/projects/P/zones/us-central1-a/instances`.
    public func computePath(_ rest: String) -> String { "/compute/v1/projects/\(project)/\(rest)" }

    // MARK: - Faults and settings

    /// Makes the peer misbehave as Google sometimes does, until `count` requests have seen it.
    public func inject(_ fault: GCEFault) async throws {
        _ = try await control("POST", "/_peer/inject", fault.json)
    }

    /// Removes every injected fault not yet used up.
    public func clearFaults() async throws {
        _ = try await control("DELETE", "/_peer/inject", nil)
    }

    /// Changes timings: instance steps, the deadline of operations.wait (Google: 2 min), token lifetime.
    public func settings(stepSeconds: Double? = nil, waitTimeout: Double? = nil, tokenLifetime: Double? = nil) async throws {
        var json: [String: Double] = [:]
        json["step_seconds"] = stepSeconds
        json["wait_timeout"] = waitTimeout
        json["token_lifetime"] = tokenLifetime
        _ = try await control("POST", "/_peer/settings", try JSONSerialization.data(withJSONObject: json))
    }

    /// Sets a regional quota's limit (`metric`: Google's name, e.g. `CPUS`, `N2_CPUS`,
    /// `NVIDIA_T4_GPUS`), as regions.get then shows it; inserts that would exceed it are refused
    /// with QUOTA_EXCEEDED. The usage is always counted from the peer's instances and disks.
    public func setQuota(region: String, metric: String, limit: Double) async throws {
        let json: [String: Any] = ["region": region, "metric": metric, "limit": limit]
        _ = try await control("POST", "/_peer/quotas", try JSONSerialization.data(withJSONObject: json))
    }

    /// Every token issued so far stops working (401), as an expired one does.
    public func expireTokens() async throws {
        _ = try await control("POST", "/_peer/expire-tokens", Data("{}".utf8))
    }

    /// How many requests that change something (not GET) the peer has received, refused ones too.
    public func mutatingRequests() async throws -> Int {
        let data = try await control("GET", "/_peer/requests", nil)
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["mutating"] as? Int ?? -1
    }

    /// What the peer holds, read without cloudc: instances, firewalls, disks, requestIds, counts.
    public func state() async throws -> GCEPeerState {
        let data = try await control("GET", "/_peer/state", nil)
        do {
            var state = try JSONDecoder().decode(GCEPeerState.self, from: data)
            state.raw = data
            return state
        } catch {
            throw PeerError("the GCE peer's state did not decode (\(error)): \(String(decoding: data.prefix(2000), as: UTF8.self))")
        }
    }

    private func control(_ method: String, _ path: String, _ body: Data?) async throws -> Data {
        let response = try await send(method, path, body: body)
        guard response.status == 200 else {
            throw PeerError("GCE peer \(method) \(path): \(response.status) \(response.text)")
        }
        return response.body
    }

    // MARK: - Talking to the peer directly (for tests that check the peer, or set things up)

    /// An RS256 JWT bearer assertion made with Python's `cryptography`, independently of cloudc.
    public func assertion(keyFile: String? = nil, scope: String = GCEPeer.computeScope,
                          audience: String = "https://oauth2.googleapis.com/token",
                          issuedAtOffset: Int = 0, lifetime: Int = 3600, algorithm: String = "RS256",
                          keyID: String? = nil) async throws -> String {
        var arguments = ["python3", Paths.peers + "/gce_credentials.py", "jwt", keyFile ?? credentialsPath,
                         "--scope", scope, "--aud", audience, "--iat-offset", String(issuedAtOffset),
                         "--lifetime", String(lifetime), "--alg", algorithm]
        if let keyID { arguments += ["--kid", keyID] }
        let run = try await Run.programOffPool("/usr/bin/env", arguments)
        guard run.status == 0 else { throw PeerError("gce_credentials.py jwt failed: \(run.stderr.suffix(2000))") }
        return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// POSTs a form to the token endpoint.
    public func tokenRequest(_ form: [String: String]) async throws -> GCEPeerResponse {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let body = form.sorted { $0.key < $1.key }.map { key, value in
            "\(key)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
        }.joined(separator: "&")
        return try await send("POST", "/token", body: Data(body.utf8),
                              headers: ["Content-Type": "application/x-www-form-urlencoded"])
    }

    /// An access token for the test service account, got without cloudc.
    public func accessToken(scope: String = GCEPeer.computeScope) async throws -> String {
        let response = try await tokenRequest([
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": try await assertion(scope: scope),
        ])
        guard response.status == 200, let token = response.json?["access_token"] as? String else {
            throw PeerError("the GCE peer gave no token: \(response.status) \(response.text)")
        }
        return token
    }

    /// One HTTP request to the peer; `path` starts with `/` (`/compute/v1/projects/...`).
    public func send(_ method: String, _ path: String, body: Data? = nil, token: String? = nil,
                     headers: [String: String] = [:]) async throws -> GCEPeerResponse {
        guard let url = URL(string: baseURL + path) else { throw PeerError("not a URL: \(baseURL + path)") }
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: 60)
        request.httpMethod = method
        request.httpBody = body
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        for (key, value) in headers { request.setValue(value, forHTTPHeaderField: key) }
        let (data, response) = try await URLSession.shared.data(for: request)
        guard let http = response as? HTTPURLResponse else { throw PeerError("no HTTP response from \(url)") }
        return GCEPeerResponse(status: http.statusCode, body: data)
    }

    /// A JSON request to the Compute API with a token of the test service account.
    public func compute(_ method: String, _ rest: String, json: [String: Any]? = nil, token: String) async throws -> GCEPeerResponse {
        let body = try json.map { try JSONSerialization.data(withJSONObject: $0) }
        return try await send(method, computePath(rest), body: body, token: token)
    }

    /// The Compute v1 discovery document, fetched (pinned) when it is not there yet.
    static func discoveryDocument() async throws -> String {
        let path = Paths.repoRoot + "/.peers/compute.v1.json"
        if FileManager.default.fileExists(atPath: path) { return path }
        let fetch = Paths.peers + "/fetch-compute-discovery.sh"
        // A hard limit: a child of the test runner may not receive SIGTERM.
        let run = try await Run.programOffPool("/usr/bin/timeout", ["-s", "KILL", "300", "/bin/bash", fetch])
        guard run.status == 0, FileManager.default.fileExists(atPath: path) else {
            throw PeerError("Google's Compute discovery document is not in \(path) and \(fetch) failed "
                + "(exit \(run.status)); it needs python3, pip and PyPI: \(run.stderr.suffix(2000))")
        }
        return path
    }
}

/// A misbehaviour of Google's, for `GCEPeer.inject`.
public enum GCEFault: Sendable {
    /// The zone has no capacity: an insert's Operation ends DONE with error `ZONE_RESOURCE_POOL_EXHAUSTED`
    /// (or `..._WITH_DETAILS`) and no instance is made. `count` nil: every insert there.
    case capacity(zone: String, machineType: String? = nil, count: Int? = nil, withDetails: Bool = false)
    /// A regional quota is spent: the insert's Operation ends DONE with error `QUOTA_EXCEEDED`, or
    /// (`synchronous`) the insert itself is answered 403 `quotaExceeded`; Google does both, by quota.
    case quota(zone: String? = nil, metric: String = "CPUS", limit: Double = 24, count: Int? = nil, synchronous: Bool = false)
    /// The next `count` requests whose path starts with `pathPrefix` are answered with `status`:
    /// 429 (`rateLimitExceeded`), 503 (`backendError`), 500 (`backendError`) or 403 (`rateLimitExceeded`).
    case httpError(status: Int, count: Int = 1, pathPrefix: String = "/", method: String? = nil)
    /// The next `count` matching requests are carried out, then their answer is cut off half
    /// way and the connection closed: a lost response (retry with the same requestId).
    case dropResponse(count: Int = 1, pathPrefix: String = "/", method: String? = nil)
    /// The next `count` matching requests are answered `seconds` late.
    case delay(seconds: Double, count: Int = 1, pathPrefix: String = "/", method: String? = nil)

    var json: Data {
        var object: [String: Any]
        switch self {
        case let .capacity(zone, machineType, count, withDetails):
            object = ["kind": "capacity", "zone": zone,
                      "code": withDetails ? "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS" : "ZONE_RESOURCE_POOL_EXHAUSTED"]
            if let machineType { object["machineType"] = machineType }
            if let count { object["count"] = count }
        case let .quota(zone, metric, limit, count, synchronous):
            object = ["kind": "quota", "metric": metric, "limit": limit, "synchronous": synchronous]
            if let zone { object["zone"] = zone }
            if let count { object["count"] = count }
        case let .httpError(status, count, prefix, method):
            object = ["kind": "http", "status": status, "count": count, "prefix": prefix]
            if let method { object["method"] = method }
        case let .dropResponse(count, prefix, method):
            object = ["kind": "drop", "count": count, "prefix": prefix]
            if let method { object["method"] = method }
        case let .delay(seconds, count, prefix, method):
            object = ["kind": "delay", "seconds": seconds, "count": count, "prefix": prefix]
            if let method { object["method"] = method }
        }
        return (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
    }
}

/// An answer of the peer: its status and body.
public struct GCEPeerResponse: Sendable {
    public var status: Int
    public var body: Data

    public var text: String { String(decoding: body, as: UTF8.self) }
    /// The body as a JSON object (nil when it is not one).
    public var json: [String: Any]? { try? JSONSerialization.jsonObject(with: body) as? [String: Any] }
    /// Google's error body: `error.code`, `error.message`, `error.errors[0].reason`.
    public var errorCode: Int? { (json?["error"] as? [String: Any])?["code"] as? Int }
    public var errorMessage: String? { (json?["error"] as? [String: Any])?["message"] as? String }
    public var errorReason: String? {
        (((json?["error"] as? [String: Any])?["errors"] as? [[String: Any]])?.first)?["reason"] as? String
    }
}

/// What the peer holds (`GET /_peer/state`), for tests to check independently of cloudc.
public struct GCEPeerState: Decodable, Sendable {
    public struct Instance: Decodable, Sendable {
        public var name: String
        public var zone: String
        public var status: String
        public var labels: [String: String]
        public var machineType: String
        public var networkIP: String
        public var natIP: String?
        public var provisioningModel: String?
        public var onHostMaintenance: String?
        public var guestAccelerators: [Accelerator]
        public var metadataKeys: [String]
        public var tags: [String]
        /// The host keys its guest agent published (`type base64`); empty until asked for once.
        public var hostKeys: [String]
    }

    public struct Accelerator: Decodable, Sendable {
        public var acceleratorType: String
        public var acceleratorCount: Int
    }

    public struct Firewall: Decodable, Sendable {
        public struct Rule: Decodable, Sendable {
            public var IPProtocol: String
            public var ports: [String]?
        }
        public var name: String
        public var sourceRanges: [String]?
        public var sourceTags: [String]?
        public var targetTags: [String]?
        public var priority: Int?
        public var direction: String?
        public var disabled: Bool?
        public var allowed: [Rule]?
        public var denied: [Rule]?
        public var deleting: Bool
    }

    public struct Disk: Decodable, Sendable {
        public var zone: String
        public var name: String
        public var sizeGb: Int
        /// The instance it is attached to; nil: left behind (it still costs money).
        public var instance: String?
    }

    public struct RequestID: Decodable, Sendable {
        public var method: String
        /// How many requests carried this requestId; only the first did anything.
        public var requests: Int
        public var operationName: String
    }

    public struct Event: Decodable, Sendable {
        /// `instance.created`, `instance.deleted`, `instance.refused`, `firewall.created`, `firewall.deleted`.
        public var event: String
        public var name: String
        public var zone: String?
        public var code: String?
    }

    public var instances: [Instance]
    public var firewalls: [Firewall]
    public var disks: [Disk]
    public var requestIDs: [String: RequestID]
    /// `token_grants`, `token_refusals`, `requests`, `instance_inserts`, `instances_created`,
    /// `firewall_inserts`, `faults_applied`.
    public var counts: [String: Int]
    public var events: [Event]
    public var discoveryRevision: String
    /// The whole answer, for what the fields above leave out (each instance as GET shows it).
    public var raw = Data()

    enum CodingKeys: String, CodingKey {
        case instances, firewalls, disks, counts, events
        case requestIDs = "request_ids"
        case discoveryRevision = "discovery_revision"
    }

    public func instance(_ name: String) -> Instance? { instances.first { $0.name == name } }
}

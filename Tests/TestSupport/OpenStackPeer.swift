import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A local OpenStack on 127.0.0.1: a real Keystone v3 (keystone 30.0.0 from PyPI under uWSGI,
/// sqlite, fernet tokens) and a compute/network/image peer (`Tests/peers/openstack_peer.py`)
/// whose requests and answers follow Nova's published API samples and Neutron's and Glance's
/// API references, and which accepts only tokens that this Keystone validates.
///
/// Each peer copies the bootstrapped Keystone that `Tests/peers/fetch-openstack.sh` prepared
/// (`.peers/keystone-template`), gives it fresh fernet keys (a token of one peer is worthless
/// at another), serves it on a port of its own and registers its catalog there: identity, and
/// compute/network/image at the peer for RegionOne `public` (`/public/...`) and `internal`
/// (`/internal/...`) and RegionTwo `public` (`/region-two/...`). An application credential
/// for `researcher` on `research` is made at each start.
///
/// Point cloudc at it with `cloudsYAML()`. Both daemons are stopped by PID with SIGKILL.
public final class OpenStackPeer: Sendable {
    /// `http://127.0.0.1:K/v3`: Keystone.
    public let authURL: String
    /// `RegionOne`
    public let region: String
    /// `researcher`, with `member` on `research`.
    public let username: String
    public let password: String
    /// `research`
    public let projectName: String
    /// `Default`
    public let userDomain: String
    /// `Default`
    public let projectDomain: String
    /// Made for `researcher` on `research` at start (`POST /v3/users/{id}/application_credentials`).
    public let applicationCredentialID: String
    public let applicationCredentialSecret: String
    /// `http://127.0.0.1:P`: the compute/network/image peer (catalog endpoints below it).
    public let peerURL: String
    public let directory: TemporaryDirectory

    /// `research`'s id and `researcher`'s id in Keystone.
    public let projectID: String
    public let userID: String
    /// The password of Keystone's `admin` (admin on project `admin`), for tests that look behind the scenes.
    public let adminPassword: String
    public let keystonePort: Int
    public let peerPort: Int
    /// How long the start took, in seconds (copy, both daemons, catalog).
    public let startSeconds: Double

    let keystone: Daemon
    let peer: Daemon

    /// Starts a fresh Keystone and peer, runs `body`, and always stops both by PID.
    public static func with<T>(buildSeconds: Double = 0.3, _ body: (OpenStackPeer) async throws -> T) async throws -> T {
        let peer = try await OpenStackPeer(buildSeconds: buildSeconds)
        defer { peer.stop() }
        return try await body(peer)
    }

    /// `buildSeconds`: how long a new server stays in BUILD (and a deleted one is still listed, task_state deleting).
    public init(buildSeconds: Double = 0.3) async throws {
        let started = Date()
        let peers = Paths.repoRoot + "/.peers"
        let venv = peers + "/keystone-venv"
        let template = peers + "/keystone-template"
        let samples = peers + "/nova-api-samples"
        let files = FileManager.default
        for needed in [venv + "/.cloudc-ready", venv + "/bin/uwsgi", template + "/peer.json", template + "/keystone.conf.in",
                       samples + "/max_api_version"] where !files.fileExists(atPath: needed) {
            throw PeerError("the OpenStack peers are not prepared (\(needed) is missing): run bash Tests/peers/fetch-openstack.sh")
        }

        // A copy of the bootstrapped Keystone, with its own paths and its own fernet keys.
        let directory = try TemporaryDirectory("cloudc-openstack-peer")
        let keystoneDirectory = directory.path + "/keystone"
        try files.createDirectory(atPath: keystoneDirectory, withIntermediateDirectories: true)
        for name in try files.contentsOfDirectory(atPath: template) where !name.hasPrefix(".") && !name.hasSuffix(".log") {
            try files.copyItem(atPath: template + "/" + name, toPath: keystoneDirectory + "/" + name)
        }
        for repository in ["fernet-keys", "fernet-receipts"] {
            let path = keystoneDirectory + "/" + repository
            for name in try files.contentsOfDirectory(atPath: path) {
                try Data(OpenStackPeer.fernetKey().utf8).write(to: URL(fileURLWithPath: path + "/" + name))
            }
        }
        let conf = keystoneDirectory + "/keystone.conf"
        try String(contentsOfFile: keystoneDirectory + "/keystone.conf.in", encoding: .utf8)
            .replacingOccurrences(of: "@DIR@", with: keystoneDirectory)
            .write(toFile: conf, atomically: true, encoding: .utf8)
        let made = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: keystoneDirectory + "/peer.json")))
        guard let json = made as? [String: Any],
              let admin = json["admin"] as? [String: Any], let adminPassword = admin["password"] as? String,
              let researcher = json["researcher"] as? [String: Any], let password = researcher["password"] as? String,
              let userID = researcher["id"] as? String,
              let project = json["project"] as? [String: Any], let projectID = project["id"] as? String else {
            throw PeerError("\(template)/peer.json is not what keystone_peer.py writes: run bash Tests/peers/fetch-openstack.sh")
        }

        // Keystone (uWSGI) and the peer start side by side: each takes a moment to load.
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONUNBUFFERED"] = "1"
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        let keystonePort = try freeLocalPort()
        let authURL = "http://127.0.0.1:\(keystonePort)/v3"
        let keystone = try Daemon("/usr/bin/env", [
            "python3", Paths.peers + "/keystone_peer.py", "serve", "--venv", venv, "--conf", conf, "--port", String(keystonePort),
        ], environment: environment, logPath: directory.path + "/keystone.log")
        let portFile = directory.path + "/peer-port"
        let peer: Daemon
        do {
            peer = try Daemon("/usr/bin/env", [
                "python3", Paths.peers + "/openstack_peer.py", "--keystone", authURL, "--admin-password", adminPassword,
                "--project-id", projectID, "--samples", samples, "--port-file", portFile,
                "--build-seconds", String(buildSeconds),
            ], environment: environment, logPath: directory.path + "/openstack-peer.log")
        } catch {
            keystone.stop()
            throw error
        }
        do {
            let peerPort = try await peer.waitUntilReady("the OpenStack peer", seconds: 15) {
                (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            }
            let peerURL = "http://127.0.0.1:\(peerPort)"
            // Waits for Keystone, then its catalog for this port and the peer, and an application credential.
            let catalog = try await Run.programOffPool("/usr/bin/timeout", [
                "-s", "KILL", "90", "/usr/bin/env", "python3", Paths.peers + "/keystone_peer.py", "catalog",
                "--keystone", authURL, "--template-json", keystoneDirectory + "/peer.json", "--peer-url", peerURL,
                "--wait-pid", String(keystone.pid), "--timeout", "60",
            ])
            guard catalog.status == 0,
                  let answer = try? JSONSerialization.jsonObject(with: Data(catalog.stdout.utf8)) as? [String: Any],
                  let credentialID = answer["application_credential_id"] as? String,
                  let credentialSecret = answer["application_credential_secret"] as? String else {
                throw PeerError("Keystone did not start or take its catalog (exit \(catalog.status)): \(catalog.stderr.suffix(1500))\n"
                    + "Keystone's log: \(keystone.log.suffix(2500))")
            }
            self.authURL = authURL
            self.region = "RegionOne"
            self.username = "researcher"
            self.password = password
            self.projectName = "research"
            self.userDomain = "Default"
            self.projectDomain = "Default"
            self.applicationCredentialID = credentialID
            self.applicationCredentialSecret = credentialSecret
            self.peerURL = peerURL
            self.directory = directory
            self.projectID = projectID
            self.userID = userID
            self.adminPassword = adminPassword
            self.keystonePort = keystonePort
            self.peerPort = peerPort
            self.keystone = keystone
            self.peer = peer
            self.startSeconds = Date().timeIntervalSince(started)
        } catch {
            peer.stop()
            keystone.stop()
            throw error
        }
    }

    /// Stops the peer and Keystone, by PID. uWSGI runs as one process (no master, no workers of
    /// its own), so nothing of either is left once this returns.
    public func stop() {
        peer.stop()
        keystone.stop()
    }

    /// What the peer wrote: one line per request.
    public var peerLog: String { peer.log }
    /// What Keystone (uWSGI) wrote.
    public var keystoneLog: String { keystone.log }

    /// A fernet key as keystone-manage makes one: 32 random bytes, URL-safe base64.
    static func fernetKey() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }

    // MARK: - Settings, faults, state

    /// How long a server created from now on stays in BUILD (and a deleted one is still listed).
    public func settings(buildSeconds: Double) async throws {
        _ = try await control("POST", "/_peer/settings", ["build_seconds": buildSeconds])
    }

    /// Servers created from now on whose name contains `nameContains` go from BUILD to ERROR,
    /// with a fault whose message is `message` (e.g. Nova's "No valid host was found. …").
    public func injectFault(nameContains: String, message: String) async throws {
        _ = try await control("POST", "/_peer/inject", ["kind": "fault", "name_contains": nameContains, "message": message])
    }

    /// The next `count` server creates are refused for quota: 403 `forbidden` or 413 `overLimit`,
    /// with Nova's "Quota exceeded for instances: …".
    public func injectQuota(status: Int, count: Int = 1) async throws {
        _ = try await control("POST", "/_peer/inject", ["kind": "quota", "status": status, "count": count])
    }

    /// How many requests that change something (not GET) the peer has received, refused ones too.
    public func mutatingRequests() async throws -> Int {
        let data = try await control("GET", "/_peer/requests", nil)
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["mutating"] as? Int ?? -1
    }

    /// What the peer holds, read without any OpenStack client.
    public func state() async throws -> OpenStackPeerState {
        let data = try await control("GET", "/_peer/state", nil)
        do {
            var state = try JSONDecoder().decode(OpenStackPeerState.self, from: data)
            state.raw = data
            return state
        } catch {
            throw PeerError("the OpenStack peer's state did not decode (\(error)): \(String(decoding: data.prefix(2000), as: UTF8.self))")
        }
    }

    private func control(_ method: String, _ path: String, _ json: [String: Any]?) async throws -> Data {
        let body = try json.map { try JSONSerialization.data(withJSONObject: $0) }
        let response = try await send(method, peerURL + path, body: body)
        guard response.status == 200 else {
            throw PeerError("OpenStack peer \(method) \(path): \(response.status) \(response.text)")
        }
        return response.body
    }

    // MARK: - clouds.yaml

    /// A clouds.yaml with one cloud `name`: auth_url, region_name RegionOne, interface public,
    /// identity_api_version 3, and either password auth (username, password, project_name,
    /// user_domain_name, project_domain_name) or `auth_type: v3applicationcredential` with
    /// application_credential_id/secret.
    public func cloudsYAML(name: String = "testcloud", applicationCredential: Bool = false) -> String {
        var lines = [
            "clouds:",
            "  \(name):",
        ]
        if applicationCredential {
            lines += [
                "    auth_type: v3applicationcredential",
                "    auth:",
                "      auth_url: \(authURL)",
                "      application_credential_id: \"\(applicationCredentialID)\"",
                "      application_credential_secret: \"\(applicationCredentialSecret)\"",
            ]
        } else {
            lines += [
                "    auth:",
                "      auth_url: \(authURL)",
                "      username: \"\(username)\"",
                "      password: \"\(password)\"",
                "      project_name: \"\(projectName)\"",
                "      user_domain_name: \"\(userDomain)\"",
                "      project_domain_name: \"\(projectDomain)\"",
            ]
        }
        lines += [
            "    region_name: \(region)",
            "    interface: public",
            "    identity_api_version: 3",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: - Talking to Keystone and the peer directly (for tests that check the peers)

    /// `POST /v3/auth/tokens` with a password, scoped to `project` (nil: unscoped).
    public func passwordAuth(username: String? = nil, password: String? = nil, project: String? = "research") async throws -> OpenStackPeerResponse {
        var auth: [String: Any] = ["identity": ["methods": ["password"], "password": ["user": [
            "name": username ?? self.username, "domain": ["name": userDomain], "password": password ?? self.password,
        ]]]]
        if let project { auth["scope"] = ["project": ["name": project, "domain": ["name": projectDomain]]] }
        return try await send("POST", authURL + "/auth/tokens", body: try JSONSerialization.data(withJSONObject: ["auth": auth]))
    }

    /// `POST /v3/auth/tokens` with the application credential (or another id and secret).
    public func applicationCredentialAuth(id: String? = nil, secret: String? = nil) async throws -> OpenStackPeerResponse {
        let auth: [String: Any] = ["identity": ["methods": ["application_credential"], "application_credential": [
            "id": id ?? applicationCredentialID, "secret": secret ?? applicationCredentialSecret,
        ]]]
        return try await send("POST", authURL + "/auth/tokens", body: try JSONSerialization.data(withJSONObject: ["auth": auth]))
    }

    /// A token for `researcher` on `research` (password auth), got without cloudc.
    public func token() async throws -> String {
        let response = try await passwordAuth()
        guard response.status == 201, let token = response.header("X-Subject-Token") else {
            throw PeerError("Keystone gave no token: \(response.status) \(response.text)")
        }
        return token
    }

    /// The URL of a catalog endpoint: `service` compute (`.../compute/v2.1`), network or image;
    /// `label` public, internal or region-two.
    public func endpoint(_ service: String, label: String = "public") -> String {
        let path = service == "compute" ? "compute/v2.1" : service
        return "\(peerURL)/\(label)/\(path)"
    }

    /// A request to Nova (`path` below `/v2.1`, e.g. `/servers`), Neutron (below the endpoint: `/v2.0/...`)
    /// or Glance (`/v2/...`), with a token; `microversion` sets `OpenStack-API-Version: compute X`.
    public func api(_ service: String, _ method: String, _ path: String, json: Any? = nil, token: String?,
                    label: String = "public", microversion: String? = nil) async throws -> OpenStackPeerResponse {
        var headers: [String: String] = [:]
        if let token { headers["X-Auth-Token"] = token }
        if let microversion { headers["OpenStack-API-Version"] = "compute \(microversion)" }
        let body = try json.map { try JSONSerialization.data(withJSONObject: $0) }
        return try await send(method, endpoint(service, label: label) + path, body: body, headers: headers)
    }

    /// One HTTP request.
    public func send(_ method: String, _ url: String, body: Data? = nil, headers: [String: String] = [:]) async throws -> OpenStackPeerResponse {
        guard let address = URL(string: url) else { throw PeerError("not a URL: \(url)") }
        var request = URLRequest(url: address, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: 60)
        request.httpMethod = method
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        for (key, value) in headers { request.setValue(value, forHTTPHeaderField: key) }
        let (data, response) = try await URLSession.shared.data(for: request)
        guard let http = response as? HTTPURLResponse else { throw PeerError("no HTTP response from \(url)") }
        var fields: [String: String] = [:]
        for (key, value) in http.allHeaderFields {
            if let key = key as? String, let value = value as? String { fields[key.lowercased()] = value }
        }
        return OpenStackPeerResponse(status: http.statusCode, headers: fields, body: data)
    }

    /// One of Nova's API samples (`.peers/nova-api-samples/<relativePath>`, e.g.
    /// `servers/server-get-resp.json.tpl`) as JSON: its `%(name)s` placeholders become text
    /// inside strings and 0 outside them. Read here, not by the peer, so tests compare the
    /// peer's answers with Nova's files on their own.
    public static func novaSample(_ relativePath: String) throws -> [String: Any] {
        let path = Paths.repoRoot + "/.peers/nova-api-samples/" + relativePath
        var text = try String(contentsOfFile: path, encoding: .utf8)
        let token = try NSRegularExpression(pattern: #""(?:[^"\\]|\\.)*"|%\((\w+)\)s"#)
        var result = ""
        var last = text.startIndex
        for match in token.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            guard let range = Range(match.range, in: text) else { continue }
            result += text[last..<range.lowerBound]
            let piece = String(text[range])
            if match.range(at: 1).location == NSNotFound {
                result += piece.replacingOccurrences(of: #"%\(\w+\)s"#, with: "x", options: .regularExpression)
            } else {
                result += "0"
            }
            last = range.upperBound
        }
        result += text[last...]
        text = result
        guard let json = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw PeerError("\(path) is not a JSON object")
        }
        return json
    }
}

/// An answer of Keystone or the peer.
public struct OpenStackPeerResponse: Sendable {
    public var status: Int
    /// Header names in lower case.
    public var headers: [String: String]
    public var body: Data

    public var text: String { String(decoding: body, as: UTF8.self) }
    public var json: [String: Any]? { try? JSONSerialization.jsonObject(with: body) as? [String: Any] }
    public func header(_ name: String) -> String? { headers[name.lowercased()] }
    /// Nova's error body: `{"<fault name>": {"code", "message"}}`: the fault name, code and message.
    public var novaFault: (name: String, code: Int?, message: String?)? {
        guard let json, json.count == 1, let (name, value) = json.first, let fault = value as? [String: Any] else { return nil }
        return (name, fault["code"] as? Int, fault["message"] as? String)
    }
    /// Neutron's error body: `{"NeutronError": {"type", "message", "detail"}}`.
    public var neutronError: (type: String?, message: String?)? {
        guard let error = json?["NeutronError"] as? [String: Any] else { return nil }
        return (error["type"] as? String, error["message"] as? String)
    }
}

/// What the peer holds (`GET /_peer/state`), for tests to check independently of cloudc.
public struct OpenStackPeerState: Decodable, Sendable {
    public struct Server: Decodable, Sendable {
        public var id: String
        public var name: String
        /// BUILD, ACTIVE or ERROR (kept while it is deleted, until gone).
        public var status: String
        /// A delete was asked for (Nova's task_state `deleting`); gone after build_seconds.
        public var deleting: Bool
        public var metadata: [String: String]
        public var flavorID: String
        /// The image booted (from `imageRef`, or the boot volume's source image).
        public var imageID: String?
        public var keyName: String?
        public var securityGroups: [String]
        public var networks: [String]
        /// The zone the create asked for (nil: none asked; Nova then places it in `nova`).
        public var availabilityZone: String?
        /// The boot volume's size in GB when it boots from a volume (block_device_mapping_v2).
        public var bootVolumeSize: Int?
        public var fixedIP: String?
        public var floatingIP: String?
        /// The fault's message of a server in ERROR.
        public var fault: String?
        public var projectID: String
        /// The SSH host keys (`type base64`) its console shows.
        public var hostKeys: [String]

        enum CodingKeys: String, CodingKey {
            case id, name, status, metadata, networks, fault
            case hostKeys = "host_keys", deleting
            case flavorID = "flavor_id", imageID = "image_id", keyName = "key_name", securityGroups = "security_groups"
            case availabilityZone = "availability_zone", bootVolumeSize = "boot_volume_size"
            case fixedIP = "fixed_ip", floatingIP = "floating_ip", projectID = "project_id"
        }
    }

    public struct Keypair: Decodable, Sendable {
        public var name: String
        public var publicKey: String
        public var userID: String

        enum CodingKeys: String, CodingKey {
            case name
            case publicKey = "public_key", userID = "user_id"
        }
    }

    public struct SecurityGroup: Decodable, Sendable {
        public struct Rule: Decodable, Sendable {
            public var id: String
            public var direction: String
            public var ethertype: String
            public var `protocol`: String?
            public var portRangeMin: Int?
            public var portRangeMax: Int?
            public var remoteIPPrefix: String?
            public var remoteGroupID: String?

            enum CodingKeys: String, CodingKey {
                case id, direction, ethertype, `protocol`
                case portRangeMin = "port_range_min", portRangeMax = "port_range_max"
                case remoteIPPrefix = "remote_ip_prefix", remoteGroupID = "remote_group_id"
            }
        }

        public var id: String
        public var name: String
        public var projectID: String
        public var rules: [Rule]

        enum CodingKeys: String, CodingKey {
            case id, name, rules
            case projectID = "project_id"
        }
    }

    public struct FloatingIP: Decodable, Sendable {
        public var id: String
        public var address: String
        public var floatingNetworkID: String
        public var portID: String?
        public var description: String

        enum CodingKeys: String, CodingKey {
            case id, address, description
            case floatingNetworkID = "floating_network_id", portID = "port_id"
        }
    }

    public struct Port: Decodable, Sendable {
        public var id: String
        public var networkID: String
        public var deviceID: String
        public var deviceOwner: String
        public var fixedIP: String?
        public var securityGroups: [String]

        enum CodingKeys: String, CodingKey {
            case id
            case networkID = "network_id", deviceID = "device_id", deviceOwner = "device_owner"
            case fixedIP = "fixed_ip", securityGroups = "security_groups"
        }
    }

    public var servers: [Server]
    public var keypairs: [Keypair]
    /// Every project's groups, `default` included (Neutron makes it on a project's first use).
    public var securityGroups: [SecurityGroup]
    public var floatingIPs: [FloatingIP]
    public var ports: [Port]
    /// Accepted `POST /servers` (a create of several servers counts each).
    public var serverCreates: Int
    /// Requests per catalog endpoint label: `public`, `internal`, `region-two`.
    public var requests: [String: Int]
    /// Requests answered 401 because Keystone did not validate their token (or there was none).
    public var rejectedTokens: Int
    /// The whole answer, for what the fields above leave out.
    public var raw = Data()

    enum CodingKeys: String, CodingKey {
        case servers, keypairs, ports, requests
        case securityGroups = "security_groups", floatingIPs = "floating_ips", serverCreates = "server_creates"
        case rejectedTokens = "rejected_tokens"
    }

    public func server(_ name: String) -> Server? { servers.first { $0.name == name } }
    public func securityGroup(_ name: String) -> SecurityGroup? { securityGroups.first { $0.name == name } }
}

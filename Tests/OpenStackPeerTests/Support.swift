import Foundation
import Testing
import TestSupport

/// All OpenStack peer tests, one at a time: each starts its own Keystone (uWSGI) and peer, and
/// two at once on a two-core machine would only make every start slower.
@Suite(.serialized, .timeLimit(.minutes(3)), .needsPeer)
struct OpenStackPeerTests {}

/// The Debian image of the peer's Glance, and its networks (fixed ids).
enum Fixture {
    static let debian = "6a6c6e1b-5d1c-4d3c-9a59-3f0b6f1c2d12"
    static let ubuntu = "0e3b2c9a-7f41-4b8e-8d6a-2c5f9e1a7b34"
    static let publicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk3lZ6b6T3Xo0mQm0Kc2hFQm7eN0cJ3c4pNcO0qX7sS researcher@laptop"
    /// Nova's fault message when the scheduler finds no host.
    static let noValidHost = "No valid host was found. There are not enough hosts available."
}

/// A minimal server-create body as Nova documents it.
func serverBody(_ name: String, flavor: String = "2", image: String? = Fixture.debian, extra: [String: Any] = [:]) -> [String: Any] {
    var server: [String: Any] = ["name": name, "flavorRef": flavor]
    if let image { server["imageRef"] = image }
    for (key, value) in extra { server[key] = value }
    return ["server": server]
}

/// The keys of a JSON object, sorted.
func keys(_ object: Any?) -> [String] {
    ((object as? [String: Any]) ?? [:]).keys.sorted()
}

extension OpenStackPeer {
    /// A Nova request with a token of `researcher`.
    func nova(_ method: String, _ path: String, json: Any? = nil, token: String, microversion: String? = nil,
              label: String = "public") async throws -> OpenStackPeerResponse {
        try await api("compute", method, path, json: json, token: token, label: label, microversion: microversion)
    }

    func neutron(_ method: String, _ path: String, json: Any? = nil, token: String) async throws -> OpenStackPeerResponse {
        try await api("network", method, "/v2.0" + path, json: json, token: token)
    }

    func glance(_ method: String, _ path: String, token: String) async throws -> OpenStackPeerResponse {
        try await api("image", method, "/v2" + path, token: token)
    }

    /// Creates a server (the create must be accepted) and returns its id.
    func createServer(_ body: [String: Any], token: String, microversion: String? = nil) async throws -> String {
        let response = try await nova("POST", "/servers", json: body, token: token, microversion: microversion)
        try #require(response.status == 202, "create refused: \(response.text)")
        let server = try #require(response.json?["server"] as? [String: Any])
        return try #require(server["id"] as? String)
    }

    /// Polls GET /servers/{id} until its status is `status` (a bounded wait).
    func waitForStatus(_ id: String, _ status: String, token: String, seconds: Double = 20) async throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let response = try await nova("GET", "/servers/\(id)", token: token)
            try #require(response.status == 200, "GET server: \(response.text)")
            let server = try #require(response.json?["server"] as? [String: Any])
            if server["status"] as? String == status { return server }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        throw PeerError("server \(id) never became \(status)")
    }

    /// The id of a network by name, through Neutron.
    func networkID(_ name: String, token: String) async throws -> String {
        let response = try await neutron("GET", "/networks?name=\(name)", token: token)
        let networks = try #require(response.json?["networks"] as? [[String: Any]])
        return try #require(networks.first?["id"] as? String)
    }
}

/// The sample Nova's own sample tests would compare with at `microversion`: the file in the
/// highest `v2.N` folder not above it, else the base one. Nova's 2.69 server samples show a
/// server in a cell that is down, not a usual one, and are passed over.
func samplePath(_ folder: String, _ name: String, microversion: String = "2.1") -> String {
    func parse(_ text: String) -> (Int, Int)? {
        let parts = text.split(separator: ".").compactMap { Int($0) }
        return parts.count == 2 ? (parts[0], parts[1]) : nil
    }
    let wanted = parse(microversion) ?? (2, 1)
    let root = Paths.repoRoot + "/.peers/nova-api-samples/" + folder
    let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
        .filter { $0.hasPrefix("v") && FileManager.default.fileExists(atPath: "\(root)/\($0)/\(name)") }
        .filter { !(folder == "servers" && $0 == "v2.69" && name != "server-create-resp.json.tpl") }
        .compactMap { directory in parse(String(directory.dropFirst())).map { (directory, $0) } }
        .filter { $0.1 <= wanted }
        .sorted { $0.1 < $1.1 }
    if let best = versions.last { return "\(folder)/\(best.0)/\(name)" }
    return "\(folder)/\(name)"
}

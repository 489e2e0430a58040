import CloudcCore
import Foundation
@testable import Providers
import TestSupport
import _CryptoExtras

/// A service account's RSA key, made at test time (never committed): PKCS#8 PEM from
/// openssl as Google's JSON keys carry, else one from swift-crypto.
enum TestKeys {
    static let privateKeyPEM: String = {
        if let openssl = Run.which("openssl"),
           let run = try? Run.program(openssl, ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
           run.status == 0, run.stdout.contains("BEGIN PRIVATE KEY") {
            return run.stdout
        }
        return (try? _RSA.Signing.PrivateKey(keySize: .bits2048).pemRepresentation) ?? ""
    }()

    static func publicKey() throws -> _RSA.Signing.PublicKey {
        try _RSA.Signing.PrivateKey(pemRepresentation: privateKeyPEM).publicKey
    }

    static let key = ServiceAccountKey(clientEmail: "runner@proj-1.iam.gserviceaccount.com", privateKeyID: "kid-0123",
                                       privateKey: Secret(privateKeyPEM), projectID: "proj-1",
                                       tokenURI: "https://oauth2.googleapis.com/token")

    /// The JSON key file the Cloud console hands out.
    static func keyFile(tokenURI: String = "https://oauth2.googleapis.com/token", project: String = "proj-1") -> String {
        let json: JSONValue = [
            "type": "service_account", "project_id": .string(project), "private_key_id": "kid-0123",
            "private_key": .string(privateKeyPEM), "client_email": "runner@proj-1.iam.gserviceaccount.com",
            "client_id": "1234567890", "token_uri": .string(tokenURI),
        ]
        return json.description
    }
}

/// A bearer token that never changes.
struct StaticToken: GoogleTokenSource {
    var value = "ya29.test-token"
    func accessToken() async throws -> Secret { Secret(value) }
    func invalidate() async {}
}

/// An in-memory transport that answers each request with `handler`, records what it was sent,
/// and may take a while (so that concurrent callers overlap).
final class RoutedTransport: HTTPTransport, @unchecked Sendable {
    private let lock = NSLock()
    private var sent: [HTTPRequest] = []
    let delay: TimeInterval
    let handler: @Sendable (HTTPRequest) throws -> HTTPResponse

    init(delay: TimeInterval = 0, _ handler: @escaping @Sendable (HTTPRequest) throws -> HTTPResponse) {
        self.delay = delay; self.handler = handler
    }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        lock.withLock { sent.append(request) }
        if delay > 0 { try await Task.sleep(nanoseconds: UInt64(delay * 1_000_000_000)) }
        return try handler(request)
    }

    var requests: [HTTPRequest] { lock.withLock { sent } }
}

func json(_ status: Int = 200, _ value: JSONValue) -> HTTPResponse {
    HTTPResponse(status: status, headers: ["content-type": "application/json"], body: value.data)
}

/// Google's error body.
func googleError(_ status: Int, _ reason: String, _ message: String, _ canonical: String = "") -> HTTPResponse {
    json(status, ["error": ["code": .number(Double(status)), "message": .string(message), "status": .string(canonical),
                            "errors": [["reason": .string(reason), "message": .string(message), "domain": "global"]]]])
}

extension HTTPRequest {
    var form: [String: String] {
        var out: [String: String] = [:]
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            if parts.count == 2 { out[parts[0]] = parts[1] }
        }
        return out
    }

    var json: JSONValue? { JSONValue.parse(body) }

    func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }

    /// The path after `/compute/v1/projects/<project>/`.
    var computePath: String {
        let path = url.path
        guard let range = path.range(of: "/compute/v1/") else { return path }
        return String(path[range.upperBound...])
    }

    func query(_ name: String) -> String? {
        URLComponents(url: url, resolvingAgainstBaseURL: false)?.queryItems?.first { $0.name == name }?.value
    }
}

/// Compute Engine in memory: zones, machine and accelerator types, images, instances,
/// firewalls and operations, with `requestId` deduplication as Google documents it (a
/// repeat gets the earlier operation) and zones that can be made to run out of capacity.
final class FakeCompute: @unchecked Sendable {
    let project = "proj-1"
    private let lock = NSLock()
    var zones: Set<String> = ["us-central1-a", "us-central1-b", "us-central1-c"]
    var machineTypes: [String: JSONValue] = [
        "e2-standard-4": ["name": "e2-standard-4", "guestCpus": 4],
        "n2-standard-8": ["name": "n2-standard-8", "guestCpus": 8],
        "n1-standard-8": ["name": "n1-standard-8", "guestCpus": 8],
        "a2-highgpu-1g": ["name": "a2-highgpu-1g", "guestCpus": 12,
                          "accelerators": [["guestAcceleratorType": "nvidia-tesla-a100", "guestAcceleratorCount": 1]]],
    ]
    var acceleratorTypes: [String: JSONValue] = ["nvidia-tesla-t4": ["name": "nvidia-tesla-t4", "maximumCardsPerInstance": 4]]
    var images: [String: JSONValue] = [
        "debian-cloud/family/debian-12": ["name": "debian-12-bookworm-v20240910", "diskSizeGb": "10"],
        "debian-cloud/debian-12-bookworm-v20240910": ["name": "debian-12-bookworm-v20240910", "diskSizeGb": "10"],
    ]
    /// Zones whose inserts fail with ZONE_RESOURCE_POOL_EXHAUSTED.
    var exhausted: Set<String> = []
    /// The next deletes of existing instances answered 400 resourceNotReady (an insert still running).
    var busyDeletes = 0
    private(set) var instances: [String: JSONValue] = [:]   // "zone/name"
    private(set) var firewalls: [String: JSONValue] = [:]
    private var operations: [String: JSONValue] = [:]
    private var byRequestID: [String: String] = [:]
    private var counter = 0

    let transport: RoutedTransport

    private final class Owner: @unchecked Sendable { weak var compute: FakeCompute? }

    init() {
        let owner = Owner()
        transport = RoutedTransport { request in owner.compute?.handle(request) ?? HTTPResponse(status: 500) }
        owner.compute = self
    }

    func update(_ change: (FakeCompute) -> Void) { lock.withLock { change(self) } }
    var instanceNames: [String] { lock.withLock { instances.keys.sorted() } }

    var inserts: [HTTPRequest] { transport.requests.filter { $0.method == "POST" && $0.computePath.hasSuffix("/instances") } }

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        lock.withLock { route(request) }
    }

    private func notFound(_ what: String) -> HTTPResponse {
        googleError(404, "notFound", "The resource '\(what)' was not found", "NOT_FOUND")
    }

    private func operation(zone: String?, type: String, target: String, error: JSONValue? = nil) -> JSONValue {
        counter += 1
        var op: [String: JSONValue] = ["name": .string("operation-\(counter)"), "operationType": .string(type),
                                       "status": "RUNNING", "targetLink": .string(target), "targetId": .string(String(1000 + counter))]
        if let zone { op["zone"] = .string("https://www.googleapis.com/compute/v1/projects/\(project)/zones/\(zone)") }
        var done = op
        done["status"] = "DONE"
        if let error { done["error"] = error }
        operations[op["name"]?.string ?? ""] = .object(done)
        return .object(op)
    }

    private func route(_ request: HTTPRequest) -> HTTPResponse {
        let parts = request.computePath.split(separator: "/").map(String.init)
        guard parts.count >= 3, parts[0] == "projects" else { return notFound(request.url.path) }
        let rest = Array(parts.dropFirst(2))
        switch (request.method, rest.first ?? "") {
        case ("GET", "global") where rest.count >= 3 && rest[1] == "images":
            let key = parts[1] + "/" + rest.dropFirst(2).joined(separator: "/")
            return images[key].map { json(200, $0) } ?? notFound(request.computePath)
        case (_, "global") where rest.count >= 2 && rest[1] == "firewalls":
            return firewall(request, rest)
        case ("POST", "global") where rest.count == 4 && rest[1] == "operations":
            return operations[rest[2]].map { json(200, $0) } ?? notFound(rest[2])
        case (_, "zones") where rest.count >= 2:
            return zonal(request, zone: rest[1], Array(rest.dropFirst(2)))
        case ("GET", "aggregated") where rest == ["aggregated", "instances"]:
            // Each zone's instances, or Google's warning for a zone without any.
            let filter = request.query("filter") ?? ""
            var items: [String: JSONValue] = [:]
            for zone in zones {
                let found = instances.filter { $0.key.hasPrefix(zone + "/") && matches($0.value, filter) }.sorted { $0.key < $1.key }.map(\.value)
                items["zones/" + zone] = found.isEmpty ? ["warning": ["code": "NO_RESULTS_ON_PAGE"]] : ["instances": .array(found)]
            }
            return json(200, ["kind": "compute#instanceAggregatedList", "items": .object(items)])
        default:
            return notFound(request.computePath)
        }
    }

    private func firewall(_ request: HTTPRequest, _ rest: [String]) -> HTTPResponse {
        switch request.method {
        case "POST":
            if let requestID = request.query("requestId"), let earlier = byRequestID[requestID] {
                return json(200, operations[earlier] ?? .null)
            }
            guard let body = request.json, let name = body["name"]?.string else { return googleError(400, "invalid", "no name") }
            if firewalls[name] != nil { return googleError(409, "alreadyExists", "The resource 'projects/\(project)/global/firewalls/\(name)' already exists") }
            var stored = body.object ?? [:]
            stored["id"] = .string("77\(firewalls.count)")
            firewalls[name] = .object(stored)
            let op = operation(zone: nil, type: "insert", target: name)
            if let requestID = request.query("requestId") { byRequestID[requestID] = op["name"]?.string }
            return json(200, op)
        case "GET":
            return rest.count == 3 ? (firewalls[rest[2]].map { json(200, $0) } ?? notFound(rest[2])) : notFound("firewalls")
        case "DELETE":
            guard rest.count == 3, firewalls.removeValue(forKey: rest[2]) != nil else { return notFound(rest.last ?? "") }
            return json(200, operation(zone: nil, type: "delete", target: rest[2]))
        default:
            return notFound("firewalls")
        }
    }

    private func zonal(_ request: HTTPRequest, zone: String, _ rest: [String]) -> HTTPResponse {
        guard zones.contains(zone) else { return notFound("projects/\(project)/zones/\(zone)") }
        switch (request.method, rest.first, rest.count) {
        case ("GET", nil, _):
            return json(200, ["name": .string(zone), "status": "UP"])
        case ("GET", "machineTypes", 2):
            return machineTypes[rest[1]].map { json(200, $0) } ?? notFound("machineTypes/\(rest[1])")
        case ("GET", "acceleratorTypes", 2):
            return acceleratorTypes[rest[1]].map { json(200, $0) } ?? notFound("acceleratorTypes/\(rest[1])")
        case ("POST", "operations", 3):
            return operations[rest[1]].map { json(200, $0) } ?? notFound(rest[1])
        case ("POST", "instances", 1):
            return insert(request, zone: zone)
        case ("GET", "instances", 1):
            let filter = request.query("filter") ?? ""
            let items = instances.filter { $0.key.hasPrefix(zone + "/") && matches($0.value, filter) }.sorted { $0.key < $1.key }.map(\.value)
            return json(200, ["items": .array(items)])
        case ("GET", "instances", 2):
            return instances["\(zone)/\(rest[1])"].map { json(200, $0) } ?? notFound("instances/\(rest[1])")
        case ("DELETE", "instances", 2) where busyDeletes > 0 && instances["\(zone)/\(rest[1])"] != nil:
            busyDeletes -= 1
            return googleError(400, "resourceNotReady", "The resource 'projects/\(project)/zones/\(zone)/instances/\(rest[1])' is not ready")
        case ("DELETE", "instances", 2):
            guard instances.removeValue(forKey: "\(zone)/\(rest[1])") != nil else { return notFound("instances/\(rest[1])") }
            return json(200, operation(zone: zone, type: "delete", target: rest[1]))
        case ("POST", "instances", 3) where rest[2] == "setLabels":
            guard var instance = instances["\(zone)/\(rest[1])"]?.object, let body = request.json else { return notFound(rest[1]) }
            guard body["labelFingerprint"]?.string == instance["labelFingerprint"]?.string else {
                return googleError(412, "conditionNotMet", "Labels fingerprint either invalid or resource labels have changed")
            }
            instance["labels"] = body["labels"]
            instance["labelFingerprint"] = .string("fp-\(counter)")
            instances["\(zone)/\(rest[1])"] = .object(instance)
            return json(200, operation(zone: zone, type: "setLabels", target: rest[1]))
        default:
            return notFound(request.computePath)
        }
    }

    private func insert(_ request: HTTPRequest, zone: String) -> HTTPResponse {
        if let requestID = request.query("requestId"), let earlier = byRequestID[requestID] {
            return json(200, operations[earlier] ?? .null)   // Google ignores the repeat: the earlier operation, as it is now
        }
        guard let body = request.json, let name = body["name"]?.string else { return googleError(400, "invalid", "no name") }
        if instances["\(zone)/\(name)"] != nil {
            return googleError(409, "alreadyExists", "The resource 'projects/\(project)/zones/\(zone)/instances/\(name)' already exists")
        }
        let op: JSONValue
        if exhausted.contains(zone) {
            op = operation(zone: zone, type: "insert", target: name, error: ["errors": [[
                "code": "ZONE_RESOURCE_POOL_EXHAUSTED",
                "message": .string("The zone 'projects/\(project)/zones/\(zone)' does not have enough resources available to fulfill the request. Try a different zone, or try again later."),
            ]]])
        } else {
            var stored = body.object ?? [:]
            let number = instances.count + 2
            stored["zone"] = .string("https://www.googleapis.com/compute/v1/projects/\(project)/zones/\(zone)")
            stored["status"] = "RUNNING"
            stored["id"] = .string(String(900 + number))
            stored["labelFingerprint"] = "fp-0"
            stored["networkInterfaces"] = [["networkIP": .string("10.128.0.\(number)"),
                                            "accessConfigs": [["type": "ONE_TO_ONE_NAT", "natIP": .string("34.1.2.\(number)")]]]]
            instances["\(zone)/\(name)"] = .object(stored)
            op = operation(zone: zone, type: "insert", target: name)
        }
        if let requestID = request.query("requestId") { byRequestID[requestID] = op["name"]?.string }
        return json(200, op)
    }

    /// `(labels.K = "V") (labels.K2 = "V2")`: every term must hold.
    private func matches(_ instance: JSONValue, _ filter: String) -> Bool {
        let terms = filter.split(separator: ")").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " (")) }.filter { !$0.isEmpty }
        for term in terms {
            let sides = term.components(separatedBy: " = ")
            guard sides.count == 2, sides[0].hasPrefix("labels.") else { return false }
            let key = String(sides[0].dropFirst("labels.".count))
            let value = sides[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            if instance["labels"]?[key]?.string != value { return false }
        }
        return true
    }
}

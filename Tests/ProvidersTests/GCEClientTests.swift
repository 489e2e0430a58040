import CloudcCore
import Foundation
import TestSupport
@testable import Providers
import Testing

/// The Compute REST client: URLs, bearer tokens, retries, operations and Google's error bodies.
@Suite struct GCEClientTests {
    static let zoneOK = json(200, ["name": "us-central1-a", "status": "UP"])

    func client(_ transport: HTTPTransport, auth: GoogleTokenSource = StaticToken(), attempts: Int = 4) throws -> GCEClient {
        GCEClient(baseURL: try #require(GCEClient.baseURL(endpoint: nil)), project: "proj-1", auth: auth, transport: transport,
                  retry: RetryPolicy(maxAttempts: attempts, baseDelay: 0.001, maxDelay: 0.002), operationPause: 0)
    }

    /// Answers from a list, in order.
    func scripted(_ answers: [HTTPResponse]) -> RoutedTransport {
        let counter = Counter()
        return RoutedTransport { _ in
            let index = counter.next()
            return index < answers.count ? answers[index] : HTTPResponse(status: 599)
        }
    }

    @Test func requestsCarryTheBearerTokenAndGoToTheProjectsPath() async throws {
        let transport = scripted([Self.zoneOK])
        _ = try await client(transport).zone("us-central1-a")
        let request = try #require(transport.requests.first)
        #expect(request.url.absoluteString == "https://compute.googleapis.com/compute/v1/projects/proj-1/zones/us-central1-a")
        #expect(request.header("Authorization") == "Bearer ya29.test-token")
    }

    @Test(arguments: [(429, "rateLimitExceeded"), (403, "rateLimitExceeded"), (403, "userRateLimitExceeded"),
                      (503, "backendError"), (500, "internalError")])
    func passingFailuresAreRetried(status: Int, reason: String) async throws {
        let transport = scripted([googleError(status, reason, "slow down"), googleError(status, reason, "slow down"), Self.zoneOK])
        let zone = try await client(transport).zone("us-central1-a")
        #expect(zone["name"]?.string == "us-central1-a")
        #expect(transport.requests.count == 3)
    }

    @Test func lostConnectionsAreRetried() async throws {
        let counter = Counter()
        let transport = RoutedTransport { _ in
            if counter.next() == 0 { throw TransportError(host: "compute.googleapis.com", underlying: -1005, text: "connection lost") }
            return Self.zoneOK
        }
        _ = try await client(transport).zone("us-central1-a")
        #expect(transport.requests.count == 2)
    }

    @Test(arguments: [(400, "invalid"), (403, "forbidden"), (404, "notFound"), (409, "alreadyExists"), (403, "quotaExceeded")])
    func clientErrorsAreNotRetried(status: Int, reason: String) async throws {
        let transport = scripted([googleError(status, reason, "no"), Self.zoneOK])
        let error = await #expect(throws: GCEAPIError.self) { try await client(transport).zone("us-central1-a") }
        #expect(transport.requests.count == 1)
        #expect(error?.status == status)
        #expect(error?.reason == reason)
    }

    @Test func retriesStopAfterTheLastAttempt() async throws {
        let transport = scripted(Array(repeating: googleError(503, "backendError", "down"), count: 5))
        await #expect(throws: GCEAPIError.self) { try await client(transport, attempts: 3).zone("us-central1-a") }
        #expect(transport.requests.count == 3)
    }

    @Test func aRefusedTokenIsReplacedOnceThenReported() async throws {
        let counter = Counter()
        let source = CountingToken()
        let transport = RoutedTransport { _ in counter.next() == 0 ? googleError(401, "authError", "Invalid Credentials", "UNAUTHENTICATED") : Self.zoneOK }
        _ = try await client(transport, auth: source).zone("us-central1-a")
        #expect(transport.requests.count == 2)
        #expect(source.invalidations == 1)

        let always = scripted(Array(repeating: googleError(401, "authError", "Invalid Credentials", "UNAUTHENTICATED"), count: 4))
        await #expect(throws: GCEAPIError.self) { try await client(always, auth: source).zone("us-central1-a") }
        #expect(always.requests.count == 2)
    }

    @Test func waitPostsUntilTheOperationIsDone() async throws {
        let running: JSONValue = ["name": "operation-1", "status": "RUNNING", "zone": "https://www.googleapis.com/compute/v1/projects/proj-1/zones/us-central1-b"]
        var done = running.object ?? [:]
        done["status"] = "DONE"
        done["error"] = ["errors": [["code": "ZONE_RESOURCE_POOL_EXHAUSTED", "message": "The zone does not have enough resources available"]]]
        let transport = scripted([json(200, running), json(200, .object(done))])
        let finished = try await client(transport).wait(GCEOperation(running))
        #expect(finished.isDone)
        #expect(finished.errors == [GCEOperation.Failure(code: "ZONE_RESOURCE_POOL_EXHAUSTED", message: "The zone does not have enough resources available")])
        #expect(transport.requests.map(\.method) == ["POST", "POST"])
        #expect(transport.requests.first?.url.path == "/compute/v1/projects/proj-1/zones/us-central1-b/operations/operation-1/wait")

        let global = scripted([json(200, ["name": "operation-2", "status": "DONE"])])
        _ = try await client(global).wait(GCEOperation(["name": "operation-2", "status": "PENDING"]))
        #expect(global.requests.first?.url.path == "/compute/v1/projects/proj-1/global/operations/operation-2/wait")
    }

    /// The aggregated list: each zone's instances (or a warning for a zone without any), page after page.
    @Test func listingFollowsPageTokensWithTheFilter() async throws {
        let transport = RoutedTransport { request in
            request.query("pageToken") == nil
                ? json(200, ["items": ["zones/us-central1-a": ["instances": [["name": "a"]]],
                                       "zones/us-east1-b": ["warning": ["code": "NO_RESULTS_ON_PAGE"]]],
                             "nextPageToken": "page 2/="])
                : json(200, ["items": ["zones/us-east1-b": ["instances": [["name": "b"]]]]])
        }
        let found = try await client(transport).aggregatedInstances(filter: "(labels.cloudc-cluster = \"demo\")")
        #expect(found.compactMap { $0["name"]?.string } == ["a", "b"])
        #expect(transport.requests.first?.url.path == "/compute/v1/projects/proj-1/aggregated/instances")
        #expect(transport.requests.map { $0.query("filter") } == ["(labels.cloudc-cluster = \"demo\")", "(labels.cloudc-cluster = \"demo\")"])
        #expect(transport.requests.last?.query("pageToken") == "page 2/=")
        #expect(transport.requests.first?.url.absoluteString.contains("filter=%28labels.cloudc-cluster%20%3D%20%22demo%22%29") == true)
    }

    @Test func endpointsBecomeBaseURLs() {
        #expect(GCEClient.baseURL(endpoint: nil)?.absoluteString == "https://compute.googleapis.com/compute/v1/")
        #expect(GCEClient.baseURL(endpoint: "http://127.0.0.1:8080")?.absoluteString == "http://127.0.0.1:8080/compute/v1/")
        #expect(GCEClient.baseURL(endpoint: "http://127.0.0.1:8080/")?.absoluteString == "http://127.0.0.1:8080/compute/v1/")
        #expect(GCEClient.baseURL(endpoint: "http://127.0.0.1:8080/compute/v1")?.absoluteString == "http://127.0.0.1:8080/compute/v1/")
        #expect(GCEClient.baseURL(endpoint: "ftp://x") == nil)
    }

    @Test(arguments: [
        ("projects/debian-cloud/global/images/family/debian-12", GCEImageReference(project: "debian-cloud", kind: .family("debian-12"))),
        ("projects/p2/global/images/my-cuda", GCEImageReference(project: "p2", kind: .name("my-cuda"))),
        ("https://www.googleapis.com/compute/v1/projects/debian-cloud/global/images/debian-12-bookworm-v1",
         GCEImageReference(project: "debian-cloud", kind: .name("debian-12-bookworm-v1"))),
        ("https://compute.googleapis.com/compute/v1/projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts",
         GCEImageReference(project: "ubuntu-os-cloud", kind: .family("ubuntu-2204-lts"))),
        ("my-image", GCEImageReference(project: "proj-1", kind: .name("my-image"))),
    ])
    func imageReferencesParse(text: String, expected: GCEImageReference) {
        #expect(GCEImageReference(text, defaultProject: "proj-1") == expected)
    }

    @Test func malformedImageReferencesAreRejected() {
        #expect(GCEImageReference("projects/x/zones/y", defaultProject: "p") == nil)
        #expect(GCEImageReference("ami-0123/x", defaultProject: "p") == nil)
    }
}

/// A token source that counts invalidations.
final class CountingToken: GoogleTokenSource, @unchecked Sendable {
    private let lock = NSLock()
    private var dropped = 0
    var invalidations: Int { lock.withLock { dropped } }
    func accessToken() async throws -> Secret { Secret("ya29.counted") }
    func invalidate() async { lock.withLock { dropped += 1 } }
}

@Suite struct GCEErrorMessageTests {
    func mapped(_ status: Int, _ reason: String, _ message: String) -> CloudcError? {
        GCEErrorMapper.userError(GCEAPIError(call: "instances.insert", status: status, reason: reason, message: message),
                                 credentialsSource: "service-account key x", project: "proj-1") as? CloudcError
    }

    @Test(arguments: [
        (401, "authError", "Invalid Credentials", CloudcError.Code.credentials, "still valid"),
        (403, "forbidden", "Required 'compute.instances.create' permission for 'projects/proj-1/zones/us-central1-a/instances/x'", .permission, "roles/compute.instanceAdmin.v1"),
        (403, "accessNotConfigured", "Compute Engine API has not been used in project 1 before or it is disabled.", .permission, "gcloud services enable compute.googleapis.com"),
        (403, "quotaExceeded", "Quota 'NVIDIA_T4_GPUS' exceeded.  Limit: 0.0 in region us-central1.", .quota, "Quotas"),
        (403, "rateLimitExceeded", "Rate Limit Exceeded", .unavailable, "wait"),
        (429, "rateLimitExceeded", "Quota exceeded for quota metric 'Queries'", .unavailable, "wait"),
        (404, "notFound", "The resource 'projects/proj-1/zones/us-central1-a/machineTypes/n9-huge' was not found", .notFound, "flavor"),
        (400, "invalid", "Invalid value for field 'resource.name': 'Bad'.", .invalidRequest, "check the template"),
        (503, "backendError", "Backend Error", .unavailable, "run the command again"),
    ])
    func googlesErrorsSayWhatFailedAndWhatToDo(status: Int, reason: String, message: String, code: CloudcError.Code, hint: String) throws {
        let error = try #require(mapped(status, reason, message))
        #expect(error.code == code)
        #expect(error.message == "GCE instances.insert failed: \(status) \(reason): \(message)", "Google's code and message, quoted")
        #expect(error.fix?.contains(hint) == true, "\(error.fix ?? "")")
    }

    @Test func errorBodiesAreParsed() {
        let error = GCEAPIError.from(googleError(403, "forbidden", "Required 'compute.firewalls.create' permission", "PERMISSION_DENIED"), call: "firewalls.insert")
        #expect(error.status == 403)
        #expect(error.reason == "forbidden")
        #expect(error.googleStatus == "PERMISSION_DENIED")
        #expect(error.message == "Required 'compute.firewalls.create' permission")
        let html = GCEAPIError.from(HTTPResponse(status: 502, body: Data("<html>bad gateway</html>".utf8)), call: "zones.get")
        #expect(html.message == "HTTP 502")
        #expect(html.isRetryable)
    }

    @Test func operationErrorsUseTheFirstErrorsCodeAndMessage() {
        let quota = GCEOperation(["name": "op", "status": "DONE", "error": ["errors": [
            ["code": "QUOTA_EXCEEDED", "message": "Quota 'CPUS' exceeded.  Limit: 24.0 in region us-central1."]]]])
        let error = GCEErrorMapper.operationError(quota, call: "instances.insert demo-x", zone: "us-central1-a", project: "proj-1")
        #expect(error.code == .quota)
        #expect(error.message == "GCE instances.insert demo-x in zone us-central1-a failed: QUOTA_EXCEEDED: Quota 'CPUS' exceeded.  Limit: 24.0 in region us-central1.")
        for code in ["ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", "RESOURCE_POOL_EXHAUSTED"] {
            #expect(GCEErrorMapper.isCapacity(code: code, message: ""))
        }
        #expect(GCEErrorMapper.isCapacity(code: "UNKNOWN", message: "The zone 'x' does not have enough resources available to fulfill the request."))
        #expect(!GCEErrorMapper.isCapacity(code: "QUOTA_EXCEEDED", message: "Quota exceeded"))
    }

    @Test func theBearerTokenNeverAppearsInErrors() async throws {
        let transport = RoutedTransport { _ in googleError(403, "forbidden", "denied") }
        let client = GCEClient(baseURL: try #require(GCEClient.baseURL(endpoint: nil)), project: "proj-1",
                               auth: StaticToken(value: "ya29.very-secret"), transport: transport, retry: RetryPolicy(maxAttempts: 1))
        let provider = GCEProvider(client: client, settings: GCESettings(project: "proj-1", zones: ["us-central1-a"]), credentialsSource: "k")
        let error = await #expect(throws: CloudcError.self) {
            try await provider.instances(cluster: "demo", incarnation: nil)
        }
        let text = error.map { "\($0) \(dumped($0))" } ?? ""
        #expect(!text.contains("ya29.very-secret"))
        #expect(text.contains("denied"))
    }
}

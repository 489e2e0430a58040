import CloudcCore
import Foundation
@testable import Providers
import Testing

/// An in-memory transport that answers from a script and records what it was sent.
final class ScriptedTransport: HTTPTransport, @unchecked Sendable {
    private let lock = NSLock()
    private var answers: [HTTPResponse]
    private(set) var requests: [HTTPRequest] = []

    init(_ answers: [HTTPResponse]) { self.answers = answers }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let answer: HTTPResponse? = lock.withLock {
            requests.append(request)
            return answers.isEmpty ? nil : answers.removeFirst()
        }
        guard let answer else { throw TransportError(host: "scripted", underlying: -1, text: "no more answers") }
        return answer
    }

    var count: Int { lock.withLock { requests.count } }
}

func ec2Error(_ status: Int, _ code: String, _ message: String = "m") -> HTTPResponse {
    HTTPResponse(status: status, body: Data("""
    <?xml version="1.0" encoding="UTF-8"?>
    <Response><Errors><Error><Code>\(code)</Code><Message>\(message)</Message></Error></Errors><RequestID>r-1</RequestID></Response>
    """.utf8))
}

let describeRegionsOK = HTTPResponse(status: 200, body: Data("""
<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>x</requestId>
<regionInfo><item><regionName>us-east-1</regionName></item></regionInfo></DescribeRegionsResponse>
""".utf8))

func client(_ transport: ScriptedTransport, attempts: Int = 4) throws -> EC2Client {
    EC2Client(endpoint: try #require(URL(string: "https://ec2.us-east-1.amazonaws.com/")), region: "us-east-1",
              credentials: AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), source: "test"),
              transport: transport, retry: RetryPolicy(maxAttempts: attempts, baseDelay: 0.001, maxDelay: 0.002))
}

@Suite struct EC2ClientTests {
    @Test(arguments: [(503, "ServiceUnavailable"), (400, "RequestLimitExceeded"), (500, "InternalError"), (400, "Throttling")])
    func passingFailuresAreRetried(status: Int, code: String) async throws {
        let transport = ScriptedTransport([ec2Error(status, code), ec2Error(status, code), describeRegionsOK])
        let answer = try await client(transport).call("DescribeRegions")
        #expect(transport.count == 3)
        #expect(answer.items("regionInfo").first?.string("regionName") == "us-east-1")
    }

    @Test(arguments: ["InvalidParameterValue", "AuthFailure", "UnauthorizedOperation", "InsufficientInstanceCapacity"])
    func clientErrorsAreNotRetried(code: String) async throws {
        let transport = ScriptedTransport([ec2Error(400, code), describeRegionsOK])
        let error = await #expect(throws: EC2APIError.self) { try await client(transport).call("RunInstances") }
        #expect(transport.count == 1)
        #expect(error?.code == code)
    }

    @Test func retriesStopAfterTheLastAttempt() async throws {
        let transport = ScriptedTransport(Array(repeating: ec2Error(503, "Unavailable"), count: 5))
        await #expect(throws: EC2APIError.self) { try await client(transport, attempts: 3).call("DescribeRegions") }
        #expect(transport.count == 3)
    }

    @Test func requestsAreSignedFormPostsWithTheAPIVersion() async throws {
        let transport = ScriptedTransport([describeRegionsOK])
        _ = try await client(transport).call("DescribeRegions", [("Filter.1.Name", "region name"), ("Filter.1.Value.1", "a/b")])
        let request = try #require(transport.requests.first)
        #expect(request.method == "POST")
        let body = String(decoding: request.body, as: UTF8.self)
        #expect(body == "Action=DescribeRegions&Version=2016-11-15&Filter.1.Name=region+name&Filter.1.Value.1=a%2Fb")
        let authorization = try #require(request.headers.first { $0.name == "Authorization" }?.value)
        #expect(authorization.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"))
        #expect(authorization.contains("/us-east-1/ec2/aws4_request"))
        #expect(authorization.contains("SignedHeaders=content-type;host;x-amz-date"))
        #expect(!authorization.contains("wJalrXUtnFEMI"), "the secret never travels")
    }

    @Test func backoffGrowsExponentiallyUpToTheCapWithJitter() {
        let policy = RetryPolicy(maxAttempts: 10, baseDelay: 0.5, maxDelay: 8)
        #expect(policy.delay(beforeRetry: 1, random: 1) == 0.5)
        #expect(policy.delay(beforeRetry: 3, random: 1) == 2)
        #expect(policy.delay(beforeRetry: 9, random: 1) == 8)
        #expect(policy.delay(beforeRetry: 3, random: 0.25) == 0.5)
    }
}

@Suite struct EC2ErrorMessages {
    func mapped(_ code: String, _ message: String = "details from EC2") -> CloudcError? {
        EC2ErrorMapper.userError(EC2APIError(action: "RunInstances", status: 400, code: code, message: message, requestID: nil),
                                 credentialsSource: "environment", region: "us-east-1") as? CloudcError
    }

    @Test(arguments: [
        ("AuthFailure", CloudcError.Code.credentials, "credentials"),
        ("SignatureDoesNotMatch", .credentials, "secret key"),
        ("UnauthorizedOperation", .permission, "ec2:RunInstances"),
        ("InsufficientInstanceCapacity", .capacity, "another instance type"),
        ("InstanceLimitExceeded", .quota, "quota"),
        ("VcpuLimitExceeded", .quota, "quota"),
        ("InvalidAMIID.NotFound", .invalidRequest, "AMI"),
        ("InvalidInstanceType", .invalidRequest, "instance type"),
    ])
    func eachKnownFailureSaysWhatToDo(code: String, expected: CloudcError.Code, hint: String) throws {
        let error = try #require(mapped(code))
        #expect(error.code == expected)
        #expect(error.message == "EC2 RunInstances failed: \(code): details from EC2", "what failed, the cloud's code and message")
        #expect(error.fix?.contains(hint) == true, "\(error.fix ?? "")")
    }

    @Test func networkFailuresSayTheCloudCannotBeReached() throws {
        let error = try #require(EC2ErrorMapper.userError(TransportError(host: "ec2.us-east-1.amazonaws.com", underlying: -1004, text: "connection refused"),
                                                          credentialsSource: "x", region: "us-east-1") as? CloudcError)
        #expect(error.code == .unavailable)
        #expect(error.message.contains("ec2.us-east-1.amazonaws.com"))
    }
}

@Suite struct CallerAddressTests {
    @Test func answerBecomesASlash32() async throws {
        let transport = ScriptedTransport([HTTPResponse(status: 200, body: Data("203.0.113.7\n".utf8))])
        #expect(try await CallerAddress.cidr(transport: transport, serviceURL: "https://checkip.example", template: "t") == "203.0.113.7/32")
    }

    @Test(arguments: [HTTPResponse(status: 200, body: Data("<html>".utf8)), HTTPResponse(status: 503)])
    func badAnswerTellsTheUserToSetSSHFrom(answer: HTTPResponse) async throws {
        let transport = ScriptedTransport([answer])
        let error = await #expect(throws: CloudcError.self) {
            try await CallerAddress.cidr(transport: transport, serviceURL: "https://checkip.example", template: "demo")
        }
        #expect(error?.fix?.contains("ssh_from: in clusters.demo") == true)
    }

    @Test func unreachableServiceTellsTheUserToSetSSHFrom() async throws {
        let error = await #expect(throws: CloudcError.self) {
            try await CallerAddress.cidr(transport: ScriptedTransport([]), serviceURL: "https://checkip.example", template: "demo")
        }
        #expect(error?.fix?.contains("ssh_from") == true)
        #expect(error?.message.contains("0.0.0.0/0") == false)
    }
}

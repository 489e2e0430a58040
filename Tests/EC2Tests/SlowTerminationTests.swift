import CLITestSupport
import CloudcCore
import Foundation
import Lifecycle
import Providers
import State
import Testing
import TestSupport

/// EC2 as it answers a stop, which moto (terminating at once) never shows: instances go through
/// `shutting-down` for a while, and their security group refuses deletion (DependencyViolation)
/// until they are `terminated` and a little after. A transport answers each action from a script
/// in EC2's documented XML; the stop must wait both out, in that order, and finish.
@Suite struct SlowTerminationTests {
    /// Answers each EC2 action from its own list, the last answer repeating; records the actions.
    final class EC2Script: HTTPTransport, @unchecked Sendable {
        private let lock = NSLock()
        private var answers: [String: [HTTPResponse]]
        private(set) var actions: [String] = []

        init(_ answers: [String: [HTTPResponse]]) { self.answers = answers }

        func send(_ request: HTTPRequest) async throws -> HTTPResponse {
            let form = String(decoding: request.body, as: UTF8.self)
            let action = form.split(separator: "&").first { $0.hasPrefix("Action=") }.map { String($0.dropFirst(7)) } ?? "?"
            return try lock.withLock {
                actions.append(action)
                guard var queue = answers[action], let answer = queue.first else {
                    throw CloudcError(.internalError, "the script has no answer for \(action)")
                }
                if queue.count > 1 { queue.removeFirst(); answers[action] = queue }
                return answer
            }
        }

        var log: [String] { lock.withLock { actions } }
    }

    static func ok(_ action: String, _ inner: String = "<return>true</return>") -> HTTPResponse {
        HTTPResponse(status: 200, body: Data("""
        <?xml version="1.0" encoding="UTF-8"?>
        <\(action)Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId>\(inner)</\(action)Response>
        """.utf8))
    }

    static func error(_ code: String, _ message: String) -> HTTPResponse {
        HTTPResponse(status: 400, body: Data("""
        <?xml version="1.0" encoding="UTF-8"?>
        <Response><Errors><Error><Code>\(code)</Code><Message>\(message)</Message></Error></Errors><RequestID>r</RequestID></Response>
        """.utf8))
    }

    static func instances(_ state: String, incarnation: String) -> HTTPResponse {
        ok("DescribeInstances", """
        <reservationSet><item><reservationId>r-1</reservationId><instancesSet><item>
        <instanceId>i-0aaa</instanceId><instanceState><code>32</code><name>\(state)</name></instanceState>
        <privateIpAddress>10.0.0.7</privateIpAddress><instanceType>t3.medium</instanceType>
        <tagSet><item><key>cloudc:cluster</key><value>aws-demo</value></item>
        <item><key>cloudc:incarnation</key><value>\(incarnation)</value></item>
        <item><key>cloudc:node</key><value>frontend001</value></item></tagSet>
        </item></instancesSet></item></reservationSet>
        """)
    }

    /// The real EC2 provider and lifecycle over `script`, polling fast; patience in seconds.
    static func lifecycle(_ store: StateStore, _ script: EC2Script, groupPatience: Double, instancePatience: Double) throws -> ClusterLifecycle {
        let client = EC2Client(endpoint: try #require(URL(string: "https://ec2.us-east-1.amazonaws.com/")), region: "us-east-1",
                               credentials: AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: Secret("x"), source: "test"),
                               transport: script, retry: RetryPolicy(maxAttempts: 1, baseDelay: 0.001, maxDelay: 0.002))
        let provider = EC2Provider(client: client, settings: EC2Settings(region: "us-east-1"), credentialsSource: "test",
                                   dependencyPoller: Poller(initialDelay: 0.01, maxDelay: 0.02, timeout: groupPatience))
        return ClusterLifecycle(store: store, provider: provider, progress: SilentProgress(),
                                waiting: Poller(initialDelay: 0.01, maxDelay: 0.02, timeout: instancePatience))
    }

    @Test func stopWaitsOutShuttingDownThenTheBusySecurityGroup() async throws {
        let user = try UserMachine(moto: nil, config: ec2Config())
        let store = StateStore(home: user.home.path + "/.cloudc")
        var state = ClusterState(name: "aws-demo", incarnation: "0123456789ab", spec: try specFromConfig(user), now: Date())
        state.phase = .running
        state.resources = [ResourceRecord(kind: .keyPair, name: "cloudc-aws-demo-0123456789ab", id: "key-0abc", status: .created),
                           ResourceRecord(kind: .securityGroup, name: "cloudc-aws-demo-0123456789ab", id: "sg-0abc", status: .created)]
        state.nodes = [NodeRecord(name: "frontend001", group: "frontend", instanceID: "i-0aaa", privateIP: "10.0.0.7",
                                  state: .running, flavor: "t3.medium")]
        try store.save(state)

        let busy = Self.error("DependencyViolation", "resource sg-0abc has a dependent object")
        let script = EC2Script([
            "DescribeInstances": [Self.instances("running", incarnation: "0123456789ab")]
                + Array(repeating: Self.instances("shutting-down", incarnation: "0123456789ab"), count: 3)
                + [Self.instances("terminated", incarnation: "0123456789ab")],
            "TerminateInstances": [Self.ok("TerminateInstances", "<instancesSet/>")],
            "DeleteSecurityGroup": [busy, busy, Self.ok("DeleteSecurityGroup")],
            "DescribeSecurityGroups": [Self.ok("DescribeSecurityGroups", "<securityGroupInfo/>")],
            "DeleteKeyPair": [Self.ok("DeleteKeyPair")],
            "DescribeKeyPairs": [Self.ok("DescribeKeyPairs", "<keySet/>")],
        ])
        let lifecycle = try Self.lifecycle(store, script, groupPatience: 120, instancePatience: 120)
        let report = try await lifecycle.stop(name: "aws-demo", command: "test")
        #expect(report.terminated == ["i-0aaa"])
        #expect(try store.load("aws-demo") == nil)

        let log = script.log
        let describes = log.indices.filter { log[$0] == "DescribeInstances" }
        let sgDeletes = log.indices.filter { log[$0] == "DeleteSecurityGroup" }
        #expect(describes.count >= 5, "the stop did not wait through shutting-down: \(log)")
        #expect(sgDeletes.count == 3, "the busy group was not retried until deleted: \(log)")
        #expect((sgDeletes.first ?? 0) > (describes.last ?? Int.max), "the group was deleted before its instance was terminated: \(log)")
    }

    @Test func aGroupThatStaysBusyIsAClearTimeoutAndTheStateIsKept() async throws {
        let user = try UserMachine(moto: nil, config: ec2Config())
        let store = StateStore(home: user.home.path + "/.cloudc")
        var state = ClusterState(name: "aws-demo", incarnation: "0123456789ab", spec: try specFromConfig(user), now: Date())
        state.resources = [ResourceRecord(kind: .securityGroup, name: "cloudc-aws-demo-0123456789ab", id: "sg-0abc", status: .created)]
        try store.save(state)
        let script = EC2Script([
            "DescribeInstances": [Self.ok("DescribeInstances", "<reservationSet/>")],
            "DeleteSecurityGroup": [Self.error("DependencyViolation", "resource sg-0abc has a dependent object")],
        ])
        let lifecycle = try Self.lifecycle(store, script, groupPatience: 0.2, instancePatience: 1)
        let error = await #expect(throws: CloudcError.self) { try await lifecycle.stop(name: "aws-demo", command: "test") }
        #expect(error?.message.contains("sg-0abc is still in use") == true, "\(String(describing: error))")
        #expect(error?.fix?.contains("cloudc stop again") == true)
        #expect(try store.load("aws-demo") != nil, "the state must outlive the group")
    }
}

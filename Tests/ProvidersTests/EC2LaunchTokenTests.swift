import CloudcCore
import Foundation
@testable import Providers
import Testing

/// EC2 refuses a ClientToken whose instances were terminated since (IdempotentInstanceTerminated,
/// as EC2's API reference documents it): a node whose instance was reclaimed must still be
/// launched again, with a token derived the same way each time.
@Suite struct EC2LaunchTokenTests {
    static let launched = HTTPResponse(status: 200, body: Data("""
    <RunInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-2</requestId>
    <reservationId>r-0a1b2c</reservationId><instancesSet><item><instanceId>i-0abc</instanceId>
    <instanceState><code>0</code><name>pending</name></instanceState><privateIpAddress>10.0.0.7</privateIpAddress>
    <amiLaunchIndex>0</amiLaunchIndex><instanceType>c5.xlarge</instanceType></item></instancesSet></RunInstancesResponse>
    """.utf8))
    static let tagged = HTTPResponse(status: 200, body: Data("""
    <CreateTagsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-3</requestId><return>true</return></CreateTagsResponse>
    """.utf8))
    static let terminated = ec2Error(400, "IdempotentInstanceTerminated",
                                     "The client token you have provided is associated with a resource that is already deleted. Please use a different client token.")

    static func request() -> LaunchRequest {
        LaunchRequest(cluster: "demo", incarnation: "0123456789ab", group: NodeGroupSpec(name: "compute", count: 1, flavor: "c5.xlarge"),
                      nodes: ["compute001"], token: "cloudc-0123456789ab-compute-00000000deadbeef", image: "ami-12345678",
                      access: AccessRequest(cluster: "demo", incarnation: "0123456789ab", sshFrom: "198.51.100.7/32",
                                            publicKey: "ssh-ed25519 AAAA x", loginUser: "admin"),
                      resources: [ResourceRecord(kind: .keyPair, name: "cloudc-demo-0123456789ab", id: "key-1", status: .created),
                                  ResourceRecord(kind: .securityGroup, name: "cloudc-demo-0123456789ab", id: "sg-1", status: .created)])
    }

    static func form(_ request: HTTPRequest) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in String(decoding: request.body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        return fields
    }

    @Test func aTokenWhoseInstancesWereTerminatedGivesWayToTheNext() async throws {
        for _ in 0..<2 {   // twice: the token it moves on to is the same each time
            let transport = ScriptedTransport([Self.terminated, Self.terminated, Self.launched, Self.tagged])
            let provider = EC2Provider(client: try client(transport), settings: EC2Settings(region: "us-east-1"), credentialsSource: "test")
            let instances = try await provider.launch(Self.request())
            #expect(instances.map(\.id) == ["i-0abc"] && instances.first?.node == "compute001")
            let runs = transport.requests.map(Self.form).filter { $0["Action"] == "RunInstances" }
            let token = Self.request().token
            #expect(runs.map { $0["ClientToken"] ?? "" } == [token, token + "-r1", token + "-r2"])
            #expect(runs.allSatisfy { $0.values.contains(token) && $0["MinCount"] == "1" }, "the instances are tagged with the recorded launch")
            #expect((token + "-r10").count <= 64, "EC2's ClientToken limit")
        }
    }

    @Test func anotherRefusalIsNotRetried() async throws {
        let transport = ScriptedTransport([ec2Error(400, "IdempotentParameterMismatch"), Self.launched])
        let provider = EC2Provider(client: try client(transport), settings: EC2Settings(region: "us-east-1"), credentialsSource: "test")
        await #expect(throws: CloudcError.self) { try await provider.launch(Self.request()) }
        #expect(transport.count == 1)
    }
}

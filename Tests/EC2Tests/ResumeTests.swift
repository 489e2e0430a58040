import CloudcCore
import Config
import Foundation
import Lifecycle
import Providers
import State
import Testing
import TestSupport

struct SimulatedCrash: Error {}

/// A provider that dies at a chosen point of a launch: after EC2 made the instances but before
/// cloudc heard back (`afterCloud`), or before the request reached EC2 at all.
struct CrashingProvider: CloudProvider {
    let inner: EC2Provider
    let group: String
    let afterCloud: Bool

    func launch(_ request: LaunchRequest) async throws -> [CloudInstance] {
        guard request.group.name == group else { return try await inner.launch(request) }
        if afterCloud { _ = try await inner.launch(request) }
        throw SimulatedCrash()
    }
    func validate(_ spec: ClusterSpec) async throws { try await inner.validate(spec) }
    func plannedResources(for request: AccessRequest) -> [ResourceRecord] { inner.plannedResources(for: request) }
    func create(_ resource: ResourceRecord, for request: AccessRequest) async throws -> ResourceRecord { try await inner.create(resource, for: request) }
    func delete(_ resource: ResourceRecord) async throws { try await inner.delete(resource) }
    func exists(_ resource: ResourceRecord) async throws -> Bool { try await inner.exists(resource) }
    func assign(node: String, cluster: String, instanceID: String) async throws { try await inner.assign(node: node, cluster: cluster, instanceID: instanceID) }
    func instances(cluster: String, incarnation: String?) async throws -> [CloudInstance] { try await inner.instances(cluster: cluster, incarnation: incarnation) }
    func terminate(_ instanceIDs: [String]) async throws { try await inner.terminate(instanceIDs) }
}

@Suite(.serialized)
struct EC2ResumeTests {
    func provider(_ moto: MotoServer) throws -> EC2Provider {
        let credentials = AWSCredentials(accessKeyID: moto.accessKeyID, secretAccessKey: Secret(moto.secretAccessKey), source: "test")
        let client = EC2Client(endpoint: try #require(URL(string: moto.endpoint)), region: "us-east-1",
                               credentials: credentials, transport: URLSessionTransport())
        return EC2Provider(client: client, settings: EC2Settings(region: "us-east-1"), credentialsSource: "test")
    }

    func crashingStart(_ moto: MotoServer, _ user: UserMachine, afterCloud: Bool) async throws {
        let config = await user.cloudc("list-templates")
        #expect(config.status == 0)
        let spec = try specFromConfig(user)
        let lifecycle = ClusterLifecycle(
            store: StateStore(home: user.home.path + "/.cloudc"),
            provider: CrashingProvider(inner: try provider(moto), group: "compute", afterCloud: afterCloud),
            progress: SilentProgress(), waiting: .init(initialDelay: 0.1, maxDelay: 0.5, timeout: 60))
        let publicKey = try String(contentsOfFile: user.home.path + "/id_ed25519.pub", encoding: .utf8)
        await #expect(throws: SimulatedCrash.self) {
            _ = try await lifecycle.start(name: "aws-demo", spec: spec, sshFrom: "198.51.100.0/24", publicKey: publicKey, command: "test")
        }
    }

    @Test func restartAfterACrashPastTheCloudCallAdoptsTheInstances() async throws {
        try await MotoServer.with { moto in
            let user = try UserMachine(moto: moto, config: ec2Config())
            try await crashingStart(moto, user, afterCloud: true)
            let made = try moto.inventory(cluster: "aws-demo")
            #expect(made.live_instances.count == 3, "the crash came after EC2 made all three")

            let resumed = await user.cloudc("start", "aws-demo", "--no-setup")
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect(resumed.stderr.contains("from an earlier attempt"))
            let after = try moto.inventory(cluster: "aws-demo")
            #expect(after.live_instances == made.live_instances, "no second VM for any node")

            let again = await user.cloudc("start", "aws-demo", "--no-setup")
            #expect(again.status == 0)
            #expect(try moto.inventory(cluster: "aws-demo").live_instances == made.live_instances, "start of a running cluster changes nothing")

            #expect(await user.cloudc("stop", "aws-demo").status == 0)
            let down = try moto.inventory(cluster: "aws-demo")
            #expect(down.live_instances.isEmpty && down.key_pairs.isEmpty && down.security_groups.isEmpty)
        }
    }

    @Test func restartAfterACrashBeforeTheCloudCallLaunchesOnce() async throws {
        try await MotoServer.with { moto in
            let user = try UserMachine(moto: moto, config: ec2Config())
            try await crashingStart(moto, user, afterCloud: false)
            #expect(try moto.inventory(cluster: "aws-demo").live_instances.count == 1, "only the frontend was made")

            let resumed = await user.cloudc("start", "aws-demo", "--no-setup")
            #expect(resumed.status == 0, "\(resumed.stderr)")
            let after = try moto.inventory(cluster: "aws-demo")
            #expect(after.live_instances.count == 3)
            #expect(Set(after.instance_tags.values.compactMap { $0["cloudc:node"] }) == ["frontend001", "compute001", "compute002"])
            #expect(await user.cloudc("stop", "aws-demo").status == 0)
        }
    }

    @Test func stopThenStartOfTheSameNameMakesNewVMs() async throws {
        try await MotoServer.with { moto in
            let user = try UserMachine(moto: moto, config: ec2Config(computeCount: 1))
            #expect(await user.cloudc("start", "aws-demo", "--no-setup").status == 0)
            let first = try moto.inventory(cluster: "aws-demo")
            let firstTokens = Set(first.instance_tags.values.compactMap { $0["cloudc:launch"] })
            #expect(await user.cloudc("stop", "aws-demo").status == 0)
            #expect(await user.cloudc("start", "aws-demo", "--no-setup").status == 0)
            let second = try moto.inventory(cluster: "aws-demo")
            #expect(second.live_instances.count == 2)
            #expect(Set(second.live_instances).isDisjoint(with: first.live_instances))
            let secondTokens = Set(second.instance_tags.values.compactMap { $0["cloudc:launch"] })
            #expect(secondTokens.isDisjoint(with: firstTokens), "a new incarnation must not reuse a ClientToken")
            #expect(await user.cloudc("stop", "aws-demo").status == 0)
        }
    }
}

/// The spec the CLI would build, read through the real config loader.
func specFromConfig(_ user: UserMachine) throws -> ClusterSpec {
    try ConfigLoader.load(path: user.home.path + "/.cloudc/config.yaml", environment: user.environment, homeDirectory: user.home.path)
        .clusterSpec(template: "aws-demo")
}

import CLITestSupport
import CloudcCore
import Config
import Foundation
import Lifecycle
import Providers
import State
import Testing
import TestSupport

struct SimulatedCrash: Error {}

/// The real EC2 provider with hooks around launch and terminate, to stage crashes and races.
struct HookedProvider: CloudProvider {
    let inner: EC2Provider
    var onLaunch: @Sendable (LaunchRequest, EC2Provider) async throws -> [CloudInstance] = { try await $1.launch($0) }
    var onTerminate: @Sendable ([String], EC2Provider) async throws -> Void = { try await $1.terminate($0) }

    func launch(_ request: LaunchRequest) async throws -> [CloudInstance] { try await onLaunch(request, inner) }
    func terminate(_ instanceIDs: [String]) async throws { try await onTerminate(instanceIDs, inner) }
    func validate(_ spec: ClusterSpec) async throws { try await inner.validate(spec) }
    func plannedResources(for request: AccessRequest) -> [ResourceRecord] { inner.plannedResources(for: request) }
    func create(_ resource: ResourceRecord, for request: AccessRequest) async throws -> ResourceRecord { try await inner.create(resource, for: request) }
    func delete(_ resource: ResourceRecord) async throws { try await inner.delete(resource) }
    func exists(_ resource: ResourceRecord) async throws -> Bool { try await inner.exists(resource) }
    func assign(node: String, cluster: String, instanceID: String) async throws { try await inner.assign(node: node, cluster: cluster, instanceID: instanceID) }
    func instances(cluster: String, incarnation: String?) async throws -> [CloudInstance] { try await inner.instances(cluster: cluster, incarnation: incarnation) }
}

/// True the first time only.
actor Once {
    private var done = false
    func first() -> Bool { defer { done = true }; return !done }
}

@Suite(.serialized, .needsPeer)
struct EC2ResumeTests {
    func provider(_ moto: MotoServer) throws -> EC2Provider {
        let credentials = AWSCredentials(accessKeyID: moto.accessKeyID, secretAccessKey: Secret(moto.secretAccessKey), source: "test")
        let client = EC2Client(endpoint: try #require(URL(string: moto.endpoint)), region: "us-east-1",
                               credentials: credentials, transport: URLSessionTransport())
        return EC2Provider(client: client, settings: EC2Settings(region: "us-east-1"), credentialsSource: "test")
    }

    func lifecycle(_ user: UserMachine, _ provider: HookedProvider) -> ClusterLifecycle {
        ClusterLifecycle(store: StateStore(home: user.home.path + "/.cloudc"), provider: provider,
                         progress: SilentProgress(), waiting: .init(initialDelay: 0.1, maxDelay: 0.5, timeout: 60))
    }

    /// A start that dies launching the compute group: after EC2 made the instances but before
    /// cloudc heard back (`afterCloud`), or before the request reached EC2 at all.
    func crashingStart(_ moto: MotoServer, _ user: UserMachine, afterCloud: Bool) async throws {
        let spec = try specFromConfig(user)
        var crashing = HookedProvider(inner: try provider(moto))
        crashing.onLaunch = { request, inner in
            guard request.group.name == "compute" else { return try await inner.launch(request) }
            if afterCloud { _ = try await inner.launch(request) }
            throw SimulatedCrash()
        }
        let lifecycle = lifecycle(user, crashing)
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

    /// A state without the address SSH was let in from (hand-edited, or from before it was
    /// recorded) must not make resize open SSH to the world.
    @Test func resizeWithoutARecordedSSHFromRefusesRatherThanOpeningToTheWorld() async throws {
        try await MotoServer.with { moto in
            let user = try UserMachine(moto: moto, config: ec2Config(computeCount: 1))
            #expect(await user.cloudc("start", "aws-demo", "--no-setup").status == 0)
            let store = StateStore(home: user.home.path + "/.cloudc")
            var state = try #require(try store.load("aws-demo"))
            state.spec.sshFrom = nil
            try store.save(state)
            let grow = await user.cloudc("resize", "+1", "compute")
            #expect(grow.status != 0 && grow.stderr.contains("records no ssh_from"), "\(grow.stderr)")
            let after = try moto.inventory(cluster: "aws-demo")
            #expect(after.live_instances.count == 2 && after.ssh_cidrs == ["198.51.100.0/24"], "\(after)")
            // As the fix says: start again records it, and resize goes on.
            #expect(await user.cloudc("start", "aws-demo", "--no-setup").status == 0)
            #expect(try store.load("aws-demo")?.spec.sshFrom == "198.51.100.0/24")
            // (moto's instances answer no SSH, so the setup after the launch fails; the launch is what counts.)
            let again = await user.cloudc("resize", "+1", "compute", environment: ["CLOUDC_SSH_WAIT": "1"])
            #expect(!again.stderr.contains("records no ssh_from"), "\(again.stderr)")
            #expect(try moto.inventory(cluster: "aws-demo").live_instances.count == 3)
            #expect(await user.cloudc("stop", "aws-demo").status == 0)
        }
    }

    @Test func stopAlsoTerminatesAnInstanceThatAppearsWhileItWaits() async throws {
        try await MotoServer.with { moto in
            let user = try UserMachine(moto: moto, config: ec2Config())
            #expect(await user.cloudc("start", "aws-demo", "--no-setup").status == 0)
            let store = StateStore(home: user.home.path + "/.cloudc")
            let state = try #require(try store.load("aws-demo"))
            let compute = try #require(state.spec.group(named: "compute"))
            let publicKey = try String(contentsOfFile: user.home.path + "/id_ed25519.pub", encoding: .utf8)
            let late = LaunchRequest(
                cluster: "aws-demo", incarnation: state.incarnation, group: compute, nodes: ["compute009"], token: "late-launch",
                image: state.spec.image, access: AccessRequest(cluster: "aws-demo", incarnation: state.incarnation,
                                                               sshFrom: "198.51.100.0/24", publicKey: publicKey, loginUser: "ubuntu"),
                resources: state.resources)
            // A launch that was still in flight lands just as stop terminates what it knew of.
            let once = Once()
            var racing = HookedProvider(inner: try provider(moto))
            racing.onTerminate = { ids, inner in
                if await once.first() { _ = try await inner.launch(late) }
                try await inner.terminate(ids)
            }
            _ = try await lifecycle(user, racing).stop(name: "aws-demo", command: "test")
            let down = try moto.inventory(cluster: "aws-demo")
            #expect(down.all_instances == 4, "three nodes and the late one were made")
            #expect(down.live_instances.isEmpty && down.key_pairs.isEmpty && down.security_groups.isEmpty)
            #expect(user.stateFiles().isEmpty)
        }
    }
}

/// The spec the CLI would build, read through the real config loader.
func specFromConfig(_ user: UserMachine) throws -> ClusterSpec {
    try ConfigLoader.load(path: user.home.path + "/.cloudc/config.yaml", environment: user.environment, homeDirectory: user.home.path)
        .clusterSpec(template: "aws-demo")
}

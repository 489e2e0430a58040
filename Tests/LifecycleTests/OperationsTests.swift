import CloudcCore
import Configurator
import Foundation
import Lifecycle
import Operations
import State
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The use cases on a cloud in memory: where `ssh_from` comes from, one lock over a whole start,
/// an interrupted resize finished by the next command, stop.
@Suite struct OperationsTests {
    /// The events of one command, kept for the test to read.
    final class Recorded: OperationEvents, @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        /// Run at `nodesUp`, between the launch and the setup.
        var atNodesUp: @Sendable (ClusterState) -> Void = { _ in }
        var all: [String] { lock.withLock { lines } }
        func add(_ line: String) { lock.withLock { lines.append(line) } }
        func nodesUp(_ state: ClusterState, seconds: Double) { add("up \(state.nodes.count)"); atNodesUp(state) }
        func nothingToSetUp(cluster: String) { add("no setup \(cluster)") }
        func setupDone(cluster: String, report: SetupReport) { add("setup done \(cluster)") }
        func ready(cluster: String, seconds: Double) { add("ready \(cluster)") }
    }

    struct World {
        let directory: TemporaryDirectory
        let cloud = MemoryCloud()
        let events = Recorded()
        let lookUps = Counter()
        var operations: Operations

        init(callerAddress: String = "198.51.100.9/32", share: @escaping @Sendable () throws -> String = { "/nonexistent" }) throws {
            directory = try TemporaryDirectory("cloudc-operations")
            let cloud = self.cloud, lookUps = self.lookUps
            try "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperationsTestKeyOnly test\n"
                .write(toFile: directory.path + "/k.pub", atomically: true, encoding: .utf8)
            let clouds = Clouds(provider: { _ in cloud }, cloudOf: { $0.spec.cloud },
                                callerAddress: { _ in lookUps.increment(); return callerAddress },
                                waiting: Poller(initialDelay: 0.001, maxDelay: 0.002, timeout: 5))
            operations = Operations(store: StateStore(home: directory.path), clouds: clouds, nodes: NodeAccess(),
                                    progress: SilentProgress(), events: events, home: directory.path, shareDirectory: share)
        }

        func spec(sshFrom: String?, provider: ProviderKind = .ec2, setup: Bool = false) -> ClusterSpec {
            let settings: ProviderSettings = provider == .local ? .local(LocalSettings()) : .ec2(EC2Settings(region: "eu-west-1"))
            return ClusterSpec(template: "lab", cloud: CloudSpec(name: "mem", provider: provider, settings: settings),
                               login: LoginSpec(name: "default", user: "debian", privateKey: directory.path + "/k",
                                                publicKey: directory.path + "/k.pub"),
                               setup: setup ? SetupSpec(name: "slurm", playbook: "slurm") : nil,
                               image: "debian-12", sshFrom: sshFrom,
                               groups: [NodeGroupSpec(name: "frontend", count: 1, flavor: "small"),
                                        NodeGroupSpec(name: "compute", count: 2, flavor: "large")])
        }

        @discardableResult
        func start(_ spec: ClusterSpec, setup: Bool = true) async throws -> ClusterState {
            try await operations.start(StartRequest(name: "lab", spec: spec, setup: setup, command: "test start"))
        }
    }

    /// True when another holder could take the cluster's lock now (a second cloudc would not be refused).
    static func lockIsFree(_ store: StateStore, _ name: String) -> Bool {
        let fd = open(store.directory + "/\(name).lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        defer { close(fd) }
        guard fd >= 0, flock(fd, LOCK_EX | LOCK_NB) == 0 else { return false }
        flock(fd, LOCK_UN)
        return true
    }

    @Test func sshFromIsTheTemplatesThenTheCallersAndNeverTheWholeInternet() async throws {
        let configured = try World()
        try await configured.start(configured.spec(sshFrom: "203.0.113.0/24"))
        #expect(configured.cloud.sshFromAsked == ["203.0.113.0/24"])
        #expect(configured.lookUps.count == 0, "a template's ssh_from needs no look-up")

        let lookedUp = try World(callerAddress: "198.51.100.9/32")
        let state = try await lookedUp.start(lookedUp.spec(sshFrom: nil))
        #expect(lookedUp.cloud.sshFromAsked == ["198.51.100.9/32"])
        #expect(state.spec.sshFrom == "198.51.100.9/32", "recorded, for resize")
        #expect(lookedUp.lookUps.count == 1)

        let local = try World()
        try await local.start(local.spec(sshFrom: nil, provider: .local))
        #expect(local.cloud.sshFromAsked == ["127.0.0.1/32"] && local.lookUps.count == 0)

        // Over a VPN or a bastion this machine's public address is not where SSH comes from: the template must say.
        let vpn = try World(callerAddress: "198.51.100.9/32")
        var privateSpec = vpn.spec(sshFrom: nil)
        privateSpec.cloud.reach = .privateNetwork
        let error = await #expect(throws: CloudcError.self) { try await vpn.start(privateSpec) }
        #expect(error?.code == .config && error?.fix?.contains("ssh_from:") == true, "\(String(describing: error))")
        #expect(vpn.lookUps.count == 0 && vpn.cloud.log.isEmpty, "nothing looked up or created")
    }

    @Test func aStartWhoseAddressCannotBeFoundOpensNothing() async throws {
        struct NoAddress: Error {}
        var world = try World()
        world.operations.clouds.callerAddress = { _ in throw NoAddress() }
        await #expect(throws: NoAddress.self) { try await world.start(world.spec(sshFrom: nil)) }
        #expect(world.cloud.log.isEmpty && world.cloud.sshFromAsked.isEmpty)
        #expect(try world.operations.store.load("lab") == nil, "no state for a cluster that never began")
    }

    @Test func aResizeWithNoRecordedSSHFromNeverOpensSSHToTheWorld() async throws {
        let world = try World()
        var state = try await world.start(world.spec(sshFrom: "203.0.113.7/32"))
        state.spec.sshFrom = nil   // a state from before ssh_from was recorded
        try world.operations.store.save(state)
        let launchesBefore = world.cloud.launchCount

        let error = await #expect(throws: CloudcError.self) {
            _ = try await world.operations.resize(name: "lab", group: "compute", delta: 1, force: false, command: "test resize")
        }
        #expect(error?.code == .state && error?.fix?.contains("cloudc start lab -n lab") == true, "\(String(describing: error))")
        #expect(!world.cloud.sshFromAsked.contains("0.0.0.0/0"), "\(world.cloud.sshFromAsked)")
        #expect(world.cloud.launchCount == launchesBefore && world.lookUps.count == 0)
        #expect(try world.operations.loadState("lab").resize == nil, "nothing recorded that cannot be carried out")
    }

    @Test func oneLockCoversAWholeStartThroughItsSetup() async throws {
        let store = Locked<StateStore?>(nil)
        let seen = Locked<[String]>([])
        // The setup's first act is to find the playbooks: the lock must still be held there.
        var world = try World(share: {
            seen.mutate { $0.append("setup, lock free: \(OperationsTests.lockIsFree(store.value!, "lab"))") }
            throw CloudcError(.config, "no playbooks in this test")
        })
        store.mutate { $0 = world.operations.store }
        world.events.atNodesUp = { _ in seen.mutate { $0.append("up, lock free: \(OperationsTests.lockIsFree(store.value!, "lab"))") } }
        world.operations.events = world.events
        await #expect(throws: CloudcError.self) { try await world.start(world.spec(sshFrom: "203.0.113.7/32", setup: true)) }
        #expect(seen.value == ["up, lock free: false", "setup, lock free: false"])
        #expect(Self.lockIsFree(world.operations.store, "lab"), "released when the command ends")
    }

    /// A `resize +2` whose launch the cloud carried out but whose answer never came back.
    static func cutShortResize(_ world: World) async throws {
        try await world.start(world.spec(sshFrom: "203.0.113.7/32"), setup: false)
        world.cloud.crash(at: .launch, group: "compute", afterEffect: true)
        await #expect(throws: MemoryCloud.Crash.self) {
            _ = try await world.operations.resize(name: "lab", group: "compute", delta: 2, force: false, command: "test resize")
        }
        #expect(try world.operations.loadState("lab").resize?.count == 4)
    }

    @Test func aResizeCutShortIsFinishedByTheNextStart() async throws {
        let world = try World()
        try await Self.cutShortResize(world)
        let state = try await world.start(world.spec(sshFrom: "203.0.113.7/32"), setup: false)
        #expect(state.resize == nil && state.nodes.filter { $0.group == "compute" }.count == 4)
        #expect(world.cloud.live.count == 5, "the instances the cut-short launch made are adopted: \(world.cloud.log)")
    }

    @Test func aResizeCutShortAndTypedAgainIsFinishedNotRepeated() async throws {
        let world = try World()
        try await Self.cutShortResize(world)
        let launches = world.cloud.launchCount
        let outcome = try await world.operations.resize(name: "lab", group: "compute", delta: 2, force: false, command: "test resize")
        #expect(outcome.count == 4, "to the size first asked for, not 2 more")
        #expect(world.cloud.live.count == 5 && world.cloud.launchCount == launches, "\(world.cloud.log)")
        #expect(outcome.state.resize == nil)
    }

    @Test func setupOfATemplateWithoutOneSaysSoAndStopLeavesNothing() async throws {
        let world = try World()
        try await world.start(world.spec(sshFrom: "203.0.113.7/32"), setup: true)
        #expect(world.events.all == ["up 3"], "no setup asked of a template without one")
        try await world.operations.setup(name: "lab", command: "test setup")
        #expect(world.events.all == ["up 3", "no setup lab"])

        let report = try await world.operations.stop(name: "lab", command: "test stop")
        #expect(report.terminated.count == 3)
        #expect(world.cloud.live.isEmpty && world.cloud.resourceNames.isEmpty)
        #expect(try world.operations.store.load("lab") == nil)
        let error = await #expect(throws: CloudcError.self) { try await world.operations.setup(name: "lab", command: "test setup") }
        #expect(error?.code == .notFound)
    }
}

/// A value shared with closures the test hands out.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func mutate(_ body: (inout Value) -> Void) { lock.withLock { body(&stored) } }
}

import CloudcCore
import Foundation
import Lifecycle
import State
import Testing
import TestSupport

/// The lifecycle against a cloud in memory that crashes where it is told: every resume-after-crash
/// case of start, grow and stop in milliseconds (the EC2, GCE and OpenStack tests check the same
/// against the clouds' shapes).
@Suite struct ResumeAfterCrashTests {
    static func spec(compute: Int = 2) -> ClusterSpec {
        ClusterSpec(template: "lab", cloud: CloudSpec(name: "mem", provider: .local, settings: .local(LocalSettings())),
                    login: LoginSpec(name: "default", user: "debian", privateKey: "k", publicKey: "k.pub"),
                    image: "debian-12", sshFrom: "198.51.100.7/32",
                    groups: [NodeGroupSpec(name: "frontend", count: 1, flavor: "small"),
                             NodeGroupSpec(name: "compute", count: compute, flavor: "large")])
    }

    struct World {
        let directory: TemporaryDirectory
        let cloud = MemoryCloud()
        let store: StateStore
        let lifecycle: ClusterLifecycle

        init() throws {
            directory = try TemporaryDirectory("cloudc-lifecycle")
            store = StateStore(home: directory.path)
            lifecycle = ClusterLifecycle(store: store, provider: cloud, progress: SilentProgress(),
                                         waiting: Poller(initialDelay: 0.001, maxDelay: 0.002, timeout: 5))
        }

        func start() async throws -> ClusterState {
            try await lifecycle.start(name: "lab", spec: ResumeAfterCrashTests.spec(), sshFrom: "198.51.100.7/32",
                                      publicKey: "ssh-ed25519 AAAA k", command: "test")
        }
    }

    @Test func aStartCutShortAfterTheCloudLaunchedAdoptsThoseInstances() async throws {
        let world = try World()
        world.cloud.crash(at: .launch, group: "compute", afterEffect: true)
        await #expect(throws: MemoryCloud.Crash.self) { _ = try await world.start() }
        #expect(world.cloud.live.count == 3, "the cloud made them all, the state never heard of compute's")

        let state = try await world.start()
        #expect(world.cloud.live.count == 3, "no second VM for any node: \(world.cloud.log)")
        #expect(world.cloud.launchCount == 2)
        #expect(Set(state.nodes.compactMap(\.instanceID)) == Set(world.cloud.live.map(\.id)))
        #expect(state.phase == .running)
    }

    @Test func aStartCutShortBeforeTheLaunchLaunchesOnce() async throws {
        let world = try World()
        world.cloud.crash(at: .launch, group: "compute", afterEffect: false)
        await #expect(throws: MemoryCloud.Crash.self) { _ = try await world.start() }
        #expect(world.cloud.live.count == 1)
        let state = try await world.start()
        #expect(world.cloud.live.count == 3 && world.cloud.launchCount == 2, "\(world.cloud.log)")
        #expect(state.nodes.map(\.name).sorted() == ["compute001", "compute002", "frontend001"])
    }

    @Test func aResourceCreateCutShortIsFoundNotMadeTwice() async throws {
        let world = try World()
        world.cloud.crash(at: .create, afterEffect: true)
        await #expect(throws: MemoryCloud.Crash.self) { _ = try await world.start() }
        _ = try await world.start()
        #expect(world.cloud.resourceNames.count == 1)
        #expect(world.cloud.log.filter { $0.hasPrefix("create ") }.count == 1)
    }

    @Test func aGrowCutShortAfterTheLaunchReachesExactlyTheSizeAskedFor() async throws {
        let world = try World()
        var state = try await world.start()
        world.cloud.crash(at: .launch, group: "compute", afterEffect: true)
        await #expect(throws: MemoryCloud.Crash.self) {
            try await world.lifecycle.grow(&state, group: "compute", to: 3, publicKey: "ssh-ed25519 AAAA k")
        }
        state = try #require(try world.store.load("lab"))
        try await world.lifecycle.grow(&state, group: "compute", to: 3, publicKey: "ssh-ed25519 AAAA k")
        #expect(world.cloud.live.count == 4, "\(world.cloud.log)")
        #expect(state.nodes.filter { $0.group == "compute" }.count == 3)
    }

    @Test func aReclaimedNodeIsLaunchedAnew() async throws {
        let world = try World()
        _ = try await world.start()
        world.cloud.reclaim(node: "compute002")
        let state = try await world.start()
        #expect(world.cloud.live.count == 3)
        #expect(state.node(named: "compute002")?.state == .running)
    }

    @Test(arguments: [(MemoryCloud.Call.terminate, false), (.terminate, true), (.delete, false), (.delete, true)])
    func aStopCutShortIsFinishedByTheNext(call: MemoryCloud.Call, afterEffect: Bool) async throws {
        let world = try World()
        _ = try await world.start()
        world.cloud.crash(at: call, afterEffect: afterEffect)
        await #expect(throws: MemoryCloud.Crash.self) { _ = try await world.lifecycle.stop(name: "lab", command: "test") }
        #expect(try world.store.load("lab") != nil, "the state outlives what it records")
        _ = try await world.lifecycle.stop(name: "lab", command: "test")
        #expect(world.cloud.live.isEmpty && world.cloud.resourceNames.isEmpty, "\(world.cloud.log)")
        #expect(try world.store.load("lab") == nil)
    }
}

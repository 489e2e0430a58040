import CloudcCore
import Foundation
import State
import Testing
import TestSupport

func sampleState(_ name: String = "demo") -> ClusterState {
    let cloud = CloudSpec(name: "aws", provider: .ec2, settings: .ec2(EC2Settings(region: "us-east-1", accessKeyID: "AKIAEXAMPLE", secretAccessKey: "very-secret-value")))
    let spec = ClusterSpec(template: "demo", cloud: cloud, login: LoginSpec(name: "default", user: "debian", privateKey: "/k", publicKey: "/k.pub"),
                           image: "ami-1", groups: [NodeGroupSpec(name: "frontend", count: 1, flavor: "t3.medium")])
    var state = ClusterState(name: name, incarnation: "abcdefabcdef", spec: spec, now: Date(timeIntervalSince1970: 1_700_000_000))
    state.nodes = [NodeRecord(name: "frontend001", group: "frontend", instanceID: "i-1", privateIP: "10.0.0.5", state: .running, flavor: "t3.medium")]
    return state
}

func mode(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.posixPermissions] as? Int) ?? -1
}

@Suite struct StateStoreTests {
    @Test func roundTripsWithPrivateModesAndNoSecrets() throws {
        let dir = try TemporaryDirectory()
        let store = StateStore(home: dir.path + "/home")
        let state = sampleState()
        try store.save(state)
        var loaded = try #require(try store.load("demo"))
        loaded.updatedAt = state.updatedAt
        #expect(loaded == ClusterState(redactedFrom: state))
        #expect(try mode(store.directory) == 0o700)
        #expect(try mode(store.path(of: "demo")) == 0o600)
        let text = try String(contentsOfFile: store.path(of: "demo"), encoding: .utf8)
        #expect(!text.contains("very-secret-value"), "secrets never reach the state file")
        #expect(text.contains("\"schema\" : 1"))
        #expect(try store.names() == ["demo"])
        #expect(try store.load("other") == nil)
    }

    @Test func replaceIsAtomicAndLeavesNoTemporaryFiles() throws {
        let dir = try TemporaryDirectory()
        let store = StateStore(home: dir.path)
        var state = sampleState()
        try store.save(state)
        let inodeBefore = try FileManager.default.attributesOfItem(atPath: store.path(of: "demo"))[.systemFileNumber] as? UInt64
        state.phase = .running
        try store.save(state)
        let inodeAfter = try FileManager.default.attributesOfItem(atPath: store.path(of: "demo"))[.systemFileNumber] as? UInt64
        #expect(inodeBefore != inodeAfter, "a save replaces the file by rename, never writes it in place")
        #expect(try store.load("demo")?.phase == .running)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: store.directory).filter { $0.contains(".tmp") }
        #expect(leftovers.isEmpty)
    }

    /// State files written before clusters had `executor:` have no such key: they load, as nil (slurm).
    @Test func stateWithoutExecutorStillLoads() throws {
        let dir = try TemporaryDirectory()
        let store = StateStore(home: dir.path)
        var state = sampleState()
        state.spec.executor = .local
        try store.save(state)
        #expect(try store.load("demo")?.spec.executor == .local)
        let text = try String(contentsOfFile: store.path(of: "demo"), encoding: .utf8)
        let old = text.replacingOccurrences(of: "\"executor\" : \"local\",", with: "")
        #expect(old != text)
        try old.write(toFile: store.path(of: "demo"), atomically: true, encoding: .utf8)
        let loaded = try #require(try store.load("demo"))
        #expect(loaded.spec.executor == nil)
        #expect(loaded.spec.groups == state.spec.groups)
    }

    @Test func corruptFileIsReportedAndNeverOverwritten() throws {
        let dir = try TemporaryDirectory()
        let store = StateStore(home: dir.path)
        try store.save(sampleState())
        let garbage = "{\"schema\": 1, \"name\": \"demo\", \"nodes\": [tru"
        try garbage.write(toFile: store.path(of: "demo"), atomically: false, encoding: .utf8)
        let error = try #require(throws: CloudcError.self) { try store.load("demo") }
        #expect(error.code == .state)
        #expect(error.message.contains("corrupt"))
        #expect(error.message.contains(store.path(of: "demo")))
        #expect(try String(contentsOfFile: store.path(of: "demo"), encoding: .utf8) == garbage)
    }

    @Test func newerSchemaIsRefused() throws {
        let dir = try TemporaryDirectory()
        let store = StateStore(home: dir.path)
        try store.save(sampleState())
        let future = "{\"schema\": 99, \"name\": \"demo\"}"
        try future.write(toFile: store.path(of: "demo"), atomically: false, encoding: .utf8)
        let error = try #require(throws: CloudcError.self) { try store.load("demo") }
        #expect(error.message.contains("schema version 99"))
        #expect(try String(contentsOfFile: store.path(of: "demo"), encoding: .utf8) == future)
    }

    @Test func lockHeldByAnotherProcessNamesIt() async throws {
        let dir = try TemporaryDirectory()
        let store = StateStore(home: dir.path)
        try store.save(sampleState())
        // Another process holds the cluster's lock (flock(2), as cloudc takes it), with no child
        // that could keep it after the holder is killed.
        let script = "import fcntl, sys, time\nf = open(sys.argv[1], 'a')\nfcntl.flock(f, fcntl.LOCK_EX)\ntime.sleep(60)\n"
        let holder = try Daemon("/usr/bin/env", ["python3", "-c", script, store.directory + "/demo.lock"],
                                environment: ProcessInfo.processInfo.environment, logPath: dir.path + "/holder.log")
        defer { holder.stop() }
        try await waitUntil("the other process to hold the lock", seconds: 10) {
            ProcFile.text("/proc/locks")?.contains(" \(holder.pid) ") ?? false
        }
        let error = await #expect(throws: CloudcError.self) {
            try await store.withLock("demo", command: "test") { }
        }
        #expect(error?.code == .stateLocked)
        #expect(error?.message.contains("pid \(holder.pid)") == true, "\(String(describing: error))")
        #expect(error?.message.contains("python3") == true, "the holder's command line is shown")
        holder.stop()
        // Released when its holder exits: the next command gets it.
        let ran = try await store.withLock("demo", command: "test") { true }
        #expect(ran)
    }

    @Test func invalidNamesAreRefused() {
        for bad in ["", "Demo", "../x", "a b", "-x", String(repeating: "a", count: 41)] {
            #expect(throws: CloudcError.self) { try StateStore.validate(name: bad) }
        }
    }

    @Test func currentClusterIsRemembered() throws {
        let dir = try TemporaryDirectory()
        let store = StateStore(home: dir.path)
        #expect(store.currentCluster() == nil)
        try store.setCurrentCluster("demo")
        #expect(store.currentCluster() == "demo")
        try store.save(sampleState())
        try store.remove("demo")
        #expect(store.currentCluster() == nil, "removing a cluster forgets it as the current one")
    }

    /// A cloudc killed while writing a cluster's file leaves its temporary; removing the cluster's
    /// files removes those too, and nothing of another cluster.
    @Test func removingAClustersFilesTakesTheTemporariesAKilledWriterLeft() throws {
        let dir = try TemporaryDirectory()
        let store = StateStore(home: dir.path)
        try store.save(sampleState())
        let left = ["demo.json.tmp-540-f9b54b05", "demo.known_hosts.tmp-77-1a"]
        let other = "demo-2.json.tmp-540-aa"
        for name in left + [other] { FileManager.default.createFile(atPath: store.directory + "/" + name, contents: Data("{".utf8)) }
        try store.removeClusterFiles("demo")
        let entries = try FileManager.default.contentsOfDirectory(atPath: store.directory)
        #expect(left.allSatisfy { !entries.contains($0) }, "\(entries)")
        #expect(entries.contains(other))
    }
}

extension ClusterState {
    init(redactedFrom state: ClusterState) {
        self = state
        self.spec = state.spec.redacted()
    }
}

import CloudcCore
@testable import Executors
import Foundation
import Testing
import TestSupport

@Suite struct RunStoreTests {
    static func record(_ id: String, cluster: String = "demo", at seconds: Double) throws -> RunRecord {
        let grid = try Grid.expand(["python", "train.py", "--lr", "{0.1,0.01}"])
        let spec = JobSpec(words: ["python", "train.py", "--lr", "{0.1,0.01}"], names: grid.names, tasks: grid.tasks,
                           resources: Resources(cpus: 2, memory: "4G"), workDirectory: "/home/u/project")
        return RunRecord(id: id, cluster: cluster, executor: .local, createdAt: Date(timeIntervalSince1970: seconds),
                         spec: spec, directory: "/home/u/.cloudc/runs/\(cluster)/\(id)", taskIndexes: [1, 2])
    }

    @Test func savesPrivatelyAndLoadsTheSameRecord() throws {
        let home = try TemporaryDirectory("cloudc-runs")
        let store = RunStore(home: home.path)
        let run = try Self.record("r20261122-041502-3fa9", at: 1_795_000_000.125)
        try store.save(run)
        #expect(try store.load(cluster: "demo", id: run.id) == run)
        #expect(try store.load(cluster: "demo", id: "r-none") == nil)
        #expect(try store.load(cluster: "other", id: run.id) == nil)

        let file = home.path + "/runs/demo/r20261122-041502-3fa9.json"
        #expect(try mode(of: file) == 0o600)
        #expect(try mode(of: home.path + "/runs") == 0o700)
        #expect(try mode(of: home.path + "/runs/demo") == 0o700)
        // No temporary file is left beside it; dates are ISO 8601.
        #expect(try FileManager.default.contentsOfDirectory(atPath: home.path + "/runs/demo") == ["r20261122-041502-3fa9.json"])
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.contains("\"createdAt\" : \"2026-11-18T"))
        #expect(text.contains(".125Z\""))
    }

    /// A save replaces the file by rename: a reader holding the old file still reads it whole.
    @Test func saveReplacesTheFileAtomically() throws {
        let home = try TemporaryDirectory("cloudc-runs")
        let store = RunStore(home: home.path)
        var run = try Self.record("r1", at: 1000)
        try store.save(run)
        let file = home.path + "/runs/demo/r1.json"
        let before = try #require(FileHandle(forReadingAtPath: file))
        defer { try? before.close() }
        var inode = stat()
        stat(file, &inode)
        let firstInode = inode.st_ino
        run.jobIDs = ["123"]
        try store.save(run)
        stat(file, &inode)
        #expect(inode.st_ino != firstInode)
        let old = try JSONSerialization.jsonObject(with: try #require(try before.readToEnd())) as? [String: Any]
        #expect((old?["jobIDs"] as? [String]) == [])
        #expect(try store.load(cluster: "demo", id: "r1")?.jobIDs == ["123"])
    }

    @Test func listsByTimeAndFindsTheLatest() throws {
        let home = try TemporaryDirectory("cloudc-runs")
        let store = RunStore(home: home.path)
        #expect(try store.list(cluster: "demo").isEmpty)
        #expect(try store.latest(cluster: "demo") == nil)
        // Ids sorting the other way round: time decides; within a second, milliseconds do.
        try store.save(Self.record("r-b", at: 2000.5))
        try store.save(Self.record("r-a", at: 2000.25))
        try store.save(Self.record("r-c", at: 1000))
        try store.save(Self.record("r-z", cluster: "other", at: 5000))
        #expect(try store.list(cluster: "demo").map(\.id) == ["r-c", "r-a", "r-b"])
        #expect(try store.latest(cluster: "demo")?.id == "r-b")
        #expect(try store.latest(cluster: "other")?.id == "r-z")

        try store.removeAll(cluster: "demo")
        #expect(try store.list(cluster: "demo").isEmpty)
        #expect(try store.list(cluster: "other").count == 1)
        try store.removeAll(cluster: "never")
    }

    @Test func resolvesAUniquePrefix() throws {
        let home = try TemporaryDirectory("cloudc-runs")
        let store = RunStore(home: home.path)
        for (index, id) in ["r20261122-041502-3fa9", "r20261122-041502-77b0", "r20261123-100000-0001"].enumerated() {
            try store.save(Self.record(id, at: Double(index)))
        }
        #expect(try store.resolve(cluster: "demo", "r20261123").id == "r20261123-100000-0001")
        #expect(try store.resolve(cluster: "demo", "20261123").id == "r20261123-100000-0001")
        #expect(try store.resolve(cluster: "demo", "r20261122-041502-3").id == "r20261122-041502-3fa9")
        #expect(try store.resolve(cluster: "demo", "r20261122-041502-77b0").id == "r20261122-041502-77b0")

        let ambiguous = try #require(throws: CloudcError.self) { try store.resolve(cluster: "demo", "r20261122") }
        #expect(ambiguous.code == .usage)
        #expect(ambiguous.message == "'r20261122' matches 2 runs of cluster demo: r20261122-041502-3fa9, r20261122-041502-77b0")
        #expect(ambiguous.fix == "give more of the id")

        let none = try #require(throws: CloudcError.self) { try store.resolve(cluster: "demo", "r2025") }
        #expect(none.code == .notFound)
        #expect(none.message == "cluster demo has no run 'r2025'")
        #expect(none.fix?.contains("r20261123-100000-0001") == true)

        let empty = try #require(throws: CloudcError.self) { try store.resolve(cluster: "fresh", "r1") }
        #expect(empty.fix == "submit one with 'cloudc submit -- COMMAND'")
    }

    @Test func refusesPathsAsNames() throws {
        let home = try TemporaryDirectory("cloudc-runs")
        let store = RunStore(home: home.path)
        #expect(throws: CloudcError.self) { try store.load(cluster: "../x", id: "r1") }
        #expect(throws: CloudcError.self) { try store.load(cluster: "demo", id: ".hidden") }
        #expect(throws: CloudcError.self) { try store.save(Self.record("a/b", at: 0)) }
    }

    @Test func aCorruptRecordIsNamed() throws {
        let home = try TemporaryDirectory("cloudc-runs")
        let store = RunStore(home: home.path)
        _ = try home.write("runs/demo/r1.json", "{not json")
        let error = try #require(throws: CloudcError.self) { try store.list(cluster: "demo") }
        #expect(error.code == .state)
        #expect(error.message == "the run record \(home.path)/runs/demo/r1.json is corrupt")
    }

    @Test func recordsWithoutFractionalSecondsStillLoad() throws {
        let home = try TemporaryDirectory("cloudc-runs")
        let store = RunStore(home: home.path)
        let run = try Self.record("r1", at: 1_795_000_000)
        try store.save(run)
        let file = home.path + "/runs/demo/r1.json"
        let text = try String(contentsOfFile: file, encoding: .utf8).replacingOccurrences(of: ".000Z", with: "Z")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try store.load(cluster: "demo", id: "r1") == run)
    }

    @Test func newIDsAreUTCTimesWithARandomTail() throws {
        let id = RunStore.newID(now: Date(timeIntervalSince1970: 1_795_320_902.7))   // 2026-11-22 04:15:02 UTC
        #expect(id.hasPrefix("r20261122-041502-"))
        #expect(id.count == "r20261122-041502-3fa9".count)
        #expect(id.suffix(4).allSatisfy { $0.isHexDigit && !$0.isUppercase })
        let many = Set((0..<50).map { _ in RunStore.newID(now: Date(timeIntervalSince1970: 0)) })
        #expect(many.count > 40)
        #expect(many.allSatisfy { $0.hasPrefix("r19700101-000000-") })
        #expect(RunStore(home: "/h").localRunDirectory(cluster: "demo", id: id) == "/h/runs/demo/\(id)")
    }

    func mode(of path: String) throws -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { throw CloudcError(.io, "no \(path)") }
        return Int(info.st_mode & 0o777)
    }
}

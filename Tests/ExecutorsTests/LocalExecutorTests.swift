import CloudcCore
@testable import Executors
import Foundation
import Testing
import TestSupport

/// The local executor with real bash, xargs and processes. Every test kills what its run left
/// (by pid, SIGKILL) however it ends.
@Suite struct LocalExecutorTests {
    /// A cluster home, a work folder, and a run of `words` in it.
    struct Fixture {
        let home: TemporaryDirectory
        let work: TemporaryDirectory
        let store: RunStore

        init() throws {
            home = try TemporaryDirectory("cloudc-local-home")
            work = try TemporaryDirectory("cloudc-local-work")
            store = RunStore(home: home.path)
        }

        func run(_ words: [String], cpus: Int? = nil) throws -> RunRecord {
            let grid = try Grid.expand(words)
            let id = RunStore.newID(now: Date())
            let spec = JobSpec(words: words, names: grid.names, tasks: grid.tasks, resources: Resources(cpus: cpus),
                               workDirectory: work.path)
            return RunRecord(id: id, cluster: "demo", executor: .local, createdAt: Date(), spec: spec,
                             directory: store.localRunDirectory(cluster: "demo", id: id), taskIndexes: grid.tasks.map(\.index))
        }
    }

    /// SIGKILL to every process of the run, for the end of a test.
    static func killAll(_ run: RunRecord) {
        for _ in 0..<20 {
            let left = LocalSupervisor.processes(directory: run.directory)
            if left.isEmpty { return }
            for pid in left { kill(pid, SIGKILL) }
            usleep(50_000)
        }
    }

    static func waitUntilEnded(_ executor: LocalExecutor, _ run: RunRecord, seconds: Double = 60) async throws -> [TaskStatus] {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let statuses = try await executor.status(run)
            if statuses.allSatisfy({ $0.state != .pending && $0.state != .running }) { return statuses }
            guard Date() < deadline else {
                Issue.record("run \(run.id) did not end within \(seconds) s: \(Harvest.summaryLine(statuses))")
                return statuses
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
    }

    static func pgrep(_ pattern: String) throws -> [String] {
        let result = try Run.program("/usr/bin/pgrep", ["-f", pattern])
        return result.stdout.split(separator: "\n").map(String.init)
    }

    static let job = """
        # a training run: fails for lr 0.01 and seed 3 until the work folder has `fixed`
        if [ "$CLOUDC_LR" = 0.01 ] && [ "$CLOUDC_SEED" = 3 ] && [ ! -e fixed ]; then
            echo "starting" >&2
            echo "diverged at lr $CLOUDC_LR seed $CLOUDC_SEED" >&2
            exit 1
        fi
        printf 'loss,acc\\n0.%s,%s\\n' "$CLOUDC_TASK" "$CLOUDC_SEED" > results.csv
        mkdir -p checkpoints && echo "weights $CLOUDC_TASK" > checkpoints/last.txt
        echo "trained task $CLOUDC_TASK"

        """

    @Test func aGridRunsHarvestsAndRerunsItsFailedTask() async throws {
        let fixture = try Fixture()
        _ = try fixture.work.write("job.sh", Self.job)
        _ = try fixture.work.write("data/input.txt", "input\n")
        let run = try fixture.run(["bash", "job.sh", "--lr", "{0.1,0.01}", "--seed", "{1..5}"])
        defer { Self.killAll(run) }
        let executor = LocalExecutor(parallelism: 3)
        let submitted = try await executor.submit(run, progress: SilentProgress())
        #expect(submitted == run)

        let statuses = try await Self.waitUntilEnded(executor, run)
        let failed = statuses.filter { $0.state == .failed }
        #expect(Harvest.summary(statuses) == [.done: 9, .failed: 1])
        #expect(failed == [TaskStatus(index: 8, state: .failed, exitCode: 1)])
        #expect(run.spec.tasks[7].values.map(\.value) == ["0.01", "3"])
        #expect(try await executor.stderrTail(run, task: 8, lines: 1) == "diverged at lr 0.01 seed 3")
        #expect(try await executor.stderrTail(run, task: 8, lines: 5) == "starting\ndiverged at lr 0.01 seed 3")
        #expect(try await executor.stderrTail(run, task: 1, lines: 5) == "")

        // The run directory is private; the work folder was copied with its layout.
        var info = stat()
        stat(run.directory, &info)
        #expect(info.st_mode & 0o777 == 0o700)
        #expect(try String(contentsOfFile: run.directory + "/work/data/input.txt", encoding: .utf8) == "input\n")

        let harvest = try TemporaryDirectory("cloudc-local-harvest")
        try await executor.collect(run, tasks: run.taskIndexes, into: harvest.path, progress: SilentProgress())
        let first = try FileManager.default.contentsOfDirectory(atPath: harvest.path + "/1").sorted()
        #expect(first == ["checkpoints", "exit", "results.csv", "stderr", "stdout", "values.json"])
        #expect(try String(contentsOfFile: harvest.path + "/1/checkpoints/last.txt", encoding: .utf8) == "weights 1\n")
        #expect(try String(contentsOfFile: harvest.path + "/1/stdout", encoding: .utf8) == "trained task 1\n")
        #expect(try String(contentsOfFile: harvest.path + "/8/exit", encoding: .utf8) == "1\n")

        let table = try Harvest.collect(file: "results.csv", from: harvest.path, tasks: run.spec.tasks, names: run.spec.names)
        #expect(table.rows == 9)
        #expect(table.missing == [8])
        #expect(table.table.hasPrefix("task,lr,seed,loss,acc\n1,0.1,1,0.1,1\n2,0.1,2,0.2,2\n"))
        #expect(table.table.hasSuffix("7,0.01,2,0.7,2\n9,0.01,4,0.9,4\n10,0.01,5,0.10,5\n"))

        // Fix the cause in the work folder, rerun only the failed task in the same directory.
        _ = try fixture.work.write("fixed", "")
        var rerun = run
        rerun.id = RunStore.newID(now: Date())
        rerun.rerunOf = run.id
        rerun.taskIndexes = failed.map(\.index)
        _ = try await executor.submit(rerun, progress: SilentProgress())
        #expect(try await Self.waitUntilEnded(executor, rerun) == [TaskStatus(index: 8, state: .done, exitCode: 0)])
        #expect(Harvest.summary(try await executor.status(run)) == [.done: 10])
        #expect(try await executor.stderrTail(rerun, task: 8, lines: 5) == "")

        try await executor.collect(rerun, tasks: [8], into: harvest.path, progress: SilentProgress())
        let all = try Harvest.collect(file: "results.csv", from: harvest.path, tasks: run.spec.tasks, names: run.spec.names)
        #expect(all.rows == 10)
        #expect(all.missing.isEmpty)
        #expect(all.table.contains("\n8,0.01,3,0.8,3\n"))
        #expect(try Self.pgrep(run.directory).isEmpty)
    }

    @Test func cancelStopsEveryProcessOfTheRun() async throws {
        let fixture = try Fixture()
        let run = try fixture.run(["bash", "-c", "test -e \"$CLOUDC_RUN/go\" || { sleep 300 & sleep 300; wait; }", "--n", "{1..4}"])
        defer { Self.killAll(run) }
        let executor = LocalExecutor(parallelism: 2)
        _ = try await executor.submit(run, progress: SilentProgress())

        let deadline = Date().addingTimeInterval(30)
        var statuses = try await executor.status(run)
        while Harvest.summary(statuses)[.running] != 2, Date() < deadline {
            try await Task.sleep(nanoseconds: 50_000_000)
            statuses = try await executor.status(run)
        }
        #expect(Harvest.summary(statuses) == [.running: 2, .pending: 2])
        #expect(try Self.pgrep(run.directory).count >= 3)   // the supervisor and two wrappers at least

        try await executor.cancel(run)
        #expect(try Self.pgrep(run.directory).isEmpty)
        #expect(LocalSupervisor.processes(directory: run.directory).isEmpty)
        #expect(try await executor.status(run).map(\.state) == [.cancelled, .cancelled, .cancelled, .cancelled])
        #expect(FileManager.default.fileExists(atPath: run.directory + "/cancelled"))
        // A second cancel has nothing left to do: it succeeds and changes nothing.
        try await executor.cancel(run)
        #expect(try await executor.status(run).map(\.state) == [.cancelled, .cancelled, .cancelled, .cancelled])
        #expect(try Self.pgrep(run.directory).isEmpty)

        // A rerun of one cancelled task runs it; the others stay cancelled, during and after.
        #expect(FileManager.default.createFile(atPath: run.directory + "/go", contents: nil))
        var rerun = run
        rerun.rerunOf = run.id
        rerun.taskIndexes = [2]
        _ = try await executor.submit(rerun, progress: SilentProgress())
        #expect(try await executor.status(run).map(\.state).filter { $0 != .cancelled }.count == 1)
        #expect(try await Self.waitUntilEnded(executor, rerun).map(\.state) == [.done])
        #expect(try await executor.status(run).map(\.state) == [.cancelled, .done, .cancelled, .cancelled])
        #expect(!FileManager.default.fileExists(atPath: run.directory + "/cancelled"))
    }

    /// `submit` returns while tasks run; the supervisor is no child of this process, leads a
    /// session of its own, and runs tasks with no signal blocked or ignored.
    @Test func theSupervisorOutlivesSubmitInASessionOfItsOwn() async throws {
        let fixture = try Fixture()
        // Every task waits for the file `go` in the run folder: however slow this machine is,
        // nothing can end before the test has looked.
        let probe = "grep -E '^Sig(Blk|Ign):' /proc/self/status > signals; while [ ! -e \"$CLOUDC_RUN/go\" ]; do sleep 0.05; done"
        let run = try fixture.run(["bash", "-c", probe, "--n", "{1..3}"])
        defer { Self.killAll(run) }
        let executor = LocalExecutor(parallelism: 1)
        _ = try await executor.submit(run, progress: SilentProgress())
        // Back before the tasks end, and one at a time: the second and third have not started.
        let early = try await executor.status(run)
        #expect(early.allSatisfy { $0.state == .pending || $0.state == .running })
        #expect(early.dropFirst().allSatisfy { $0.state == .pending })

        let pidText = try String(contentsOfFile: run.directory + "/local.pid", encoding: .utf8)
        let pid = try #require(pid_t(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: try #require(stat.lastIndex(of: ")")))...].split(separator: " ")
        // fields: state, ppid, pgrp, session
        #expect(pid_t(fields[1]) != getpid())
        #expect(pid_t(fields[2]) == pid)
        #expect(pid_t(fields[3]) == pid)
        #expect(await LocalSupervisor.pid(directory: run.directory) == pid)

        FileManager.default.createFile(atPath: run.directory + "/go", contents: nil)
        let statuses = try await Self.waitUntilEnded(executor, run)
        #expect(statuses.map(\.state) == [.done, .done, .done])
        let signals = try String(contentsOfFile: run.directory + "/tasks/1/signals", encoding: .utf8)
        let masks = Dictionary(uniqueKeysWithValues: signals.split(separator: "\n").map {
            let parts = $0.split(separator: "\t")
            return (String(parts[0]), UInt64(parts[1], radix: 16) ?? .max)
        })
        #expect(masks["SigBlk:"] == 0)
        // None of the standard signals (1–31) is ignored. glibc's posix_spawn leaves its two
        // internal real-time signals (32, 33) ignored in every child; nothing outside glibc uses them.
        #expect(masks["SigIgn:"].map { $0 & 0x7fff_ffff } == 0)
        #expect(await LocalSupervisor.pid(directory: run.directory) == nil)
    }

    @Test func cpusPerTaskDivideTheParallelism() async throws {
        let fixture = try Fixture()
        let run = try fixture.run(["bash", "-c", "date +%s.%N > start; sleep 0.5", "{1..2}"], cpus: 2)
        defer { Self.killAll(run) }
        let executor = LocalExecutor(parallelism: 3)   // 3 / 2 cpus: one task at a time
        _ = try await executor.submit(run, progress: SilentProgress())
        #expect(try await Self.waitUntilEnded(executor, run).map(\.state) == [.done, .done])
        let starts = try (1...2).map { try String(contentsOfFile: run.directory + "/tasks/\($0)/start", encoding: .utf8) }
            .compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(starts.count == 2)
        #expect(abs(starts[1] - starts[0]) >= 0.45)
    }

    @Test func aTaskWhoseSupervisorDiedFailed() async throws {
        let fixture = try Fixture()
        let run = try fixture.run(["sleep", "300"])
        defer { Self.killAll(run) }
        let executor = LocalExecutor(parallelism: 1)
        _ = try await executor.submit(run, progress: SilentProgress())
        // Killed from outside (not by cancel): no exit status, no `cancelled`.
        Self.killAll(run)
        #expect(try await executor.status(run) == [TaskStatus(index: 1, state: .failed)])
        // A run directory that is gone reads as unknown.
        var gone = run
        gone.directory = fixture.home.path + "/nowhere"
        #expect(try await executor.status(gone) == [TaskStatus(index: 1, state: .unknown)])
    }

    @Test func refusesASecondSubmissionWhileTheRunRuns() async throws {
        let fixture = try Fixture()
        let run = try fixture.run(["sleep", "300"])
        defer { Self.killAll(run) }
        let executor = LocalExecutor(parallelism: 1)
        _ = try await executor.submit(run, progress: SilentProgress())
        var rerun = run
        rerun.rerunOf = run.id
        let error = try await #require(throws: CloudcError.self) { try await executor.submit(rerun, progress: SilentProgress()) }
        #expect(error.message == "run \(run.id) is still running on this machine")
        try await executor.cancel(run)
    }

    @Test func refusesAWorkFolderThatHoldsTheRun() async throws {
        let fixture = try Fixture()
        var run = try fixture.run(["true"])
        run.spec.workDirectory = fixture.home.path
        let error = try await #require(throws: CloudcError.self) {
            try await LocalExecutor().submit(run, progress: SilentProgress())
        }
        #expect(error.message.contains("which would copy itself"))
    }
}

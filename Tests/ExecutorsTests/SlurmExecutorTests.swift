@testable import Executors
import Foundation
import Testing

@Suite struct SlurmExecutorTests {
    func run(_ indexes: [Int], jobs: [String] = ["41"], offsets: [Int] = [0], resources: Resources = Resources()) -> RunRecord {
        let tasks = indexes.map { GridTask(index: $0, values: [], command: "true") }
        return RunRecord(id: "r1", cluster: "lab", executor: "slurm", createdAt: Date(timeIntervalSince1970: 0),
                         spec: JobSpec(words: ["true"], names: [], tasks: tasks, resources: resources, workDirectory: nil),
                         directory: "/home/u/cloudc-runs/r1", taskIndexes: indexes, jobIDs: jobs, arrayOffsets: offsets)
    }

    @Test func gridsAboveMaxArraySizeAreSplitWithOffsets() {
        let chunks = SlurmExecutor.arrayChunks(Array(1...2500), maxArraySize: 1001)
        #expect(chunks.map(\.offset) == [0, 1000, 2000])
        #expect(chunks.map(\.arraySpec) == ["1-1000", "1-1000", "1-500"])
        let rerun = SlurmExecutor.arrayChunks([3, 4, 5, 9, 1002], maxArraySize: 1001)
        #expect(rerun.map(\.arraySpec) == ["3-5,9", "2"])
        #expect(rerun.map(\.offset) == [0, 1000])
    }

    @Test func maxArraySizeIsReadFromScontrol() {
        let config = "Configuration data as of 2026-11-22T04:00:00\nMaxArraySize            = 1001\nMaxJobCount             = 10000\n"
        #expect(SlurmExecutor.maxArraySize(in: config) == 1001)
        #expect(SlurmExecutor.maxArraySize(in: "MaxJobCount = 5") == nil)
    }

    @Test func theBatchScriptAsksForTheResourcesAndRunsTheWrapper() {
        let record = run([1, 2, 3], resources: Resources(cpus: 4, gpus: 1, memory: "8G", time: "1:00:00"))
        let script = SlurmExecutor.batchScript(run: record, chunk: .init(offset: 1000, indexes: [1001, 1002]), partition: "gpu")
        #expect(script == """
        #!/bin/bash
        #SBATCH --job-name=r1
        #SBATCH --array=1-2
        #SBATCH --output=/home/u/cloudc-runs/r1/logs/%A_%a.out
        #SBATCH --partition=gpu
        #SBATCH --cpus-per-task=4
        #SBATCH --gres=gpu:1
        #SBATCH --mem=8G
        #SBATCH --time=1:00:00
        exec bash /home/u/cloudc-runs/r1/run.sh $((SLURM_ARRAY_TASK_ID + 1000))

        """)
    }

    @Test func exitFilesWinThenTheQueueThenAccounting() {
        let record = run([1, 2, 3, 4, 5, 6, 1001], jobs: ["41", "42"], offsets: [0, 1000])
        let output = """
        exit 1 0
        started 1
        exit 2 3
        started 2
        started 3
        queue 41_3 RUNNING
        queue 41_4 PENDING
        acct 41_5|CANCELLED by 0
        started 6
        queue 42_1 RUNNING
        squeue-answered
        """
        let states = SlurmExecutor.statuses(output, run: record)
        #expect(states.map(\.state) == [.done, .failed, .running, .pending, .cancelled, .failed, .running])
        #expect(states[1].exitCode == 3)
        #expect(states.map(\.index) == [1, 2, 3, 4, 5, 6, 1001])
    }

    /// squeue timed out on a busy controller: a started task it did not list is still running,
    /// not failed (a rerun's `jobs --wait` ended early on that).
    @Test func aTaskSqueueDidNotAnswerForIsNotFailed() {
        let record = run([1, 2, 3], jobs: ["41"], offsets: [0])
        let output = "exit 1 0\nstarted 1\nstarted 2\n"
        #expect(SlurmExecutor.statuses(output, run: record).map(\.state) == [.done, .running, .pending])
        #expect(SlurmExecutor.statuses(output + "squeue-answered\n", run: record).map(\.state) == [.done, .failed, .failed])
    }

    @Test func theLayoutScriptWritesEveryByte() async throws {
        let files: [(path: String, text: String, mode: Int32)] = [("run.sh", "#!/bin/bash\necho 'hi'\n", 0o755), ("tasks/2/command", "echo \"$X\" ünï\n", 0o644)]
        let script = SlurmExecutor.layoutScript(files, taskIndexes: [2])
        let folder = FileManager.default.temporaryDirectory.path + "/layout-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try script.write(toFile: folder + "/.layout.sh", atomically: false, encoding: .utf8)
        // What a first run left: a rerun starts its tasks without it.
        try FileManager.default.createDirectory(atPath: folder + "/tasks/2", withIntermediateDirectories: true)
        try "2\n".write(toFile: folder + "/tasks/2/exit", atomically: false, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [".layout.sh"]
        process.currentDirectoryURL = URL(fileURLWithPath: folder)
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(try String(contentsOfFile: folder + "/tasks/2/command", encoding: .utf8) == "echo \"$X\" ünï\n")
        #expect((try FileManager.default.attributesOfItem(atPath: folder + "/run.sh")[.posixPermissions] as? Int) == 0o755)
        #expect(!FileManager.default.fileExists(atPath: folder + "/tasks/2/exit"))
    }
}

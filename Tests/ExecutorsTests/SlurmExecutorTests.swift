import CloudcCore
@testable import Executors
import Foundation
import Testing
import TestSupport

@Suite struct SlurmExecutorTests {
    func run(_ indexes: [Int], jobs: [String] = ["41"], offsets: [Int] = [0], resources: Resources = Resources()) -> RunRecord {
        let tasks = indexes.map { GridTask(index: $0, values: [], command: "true") }
        return RunRecord(id: "r1", cluster: "lab", executor: .slurm, createdAt: Date(timeIntervalSince1970: 0),
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

    /// The task files as the frontend gets them: one archive that GNU tar unpacks, every byte and
    /// mode kept, a rerun's task folder emptied first.
    @Test func theLayoutArchiveUnpacksEveryByteWithGNUTar() async throws {
        let long = "tasks/2/" + String(repeating: "d", count: 120) + "/values.json"
        let files: [(path: String, text: String, mode: Int32)] = [("run.sh", "#!/bin/bash\necho 'hi'\n", 0o755),
                                                                  ("tasks/2/command", "echo \"$X\" ünï\n", 0o644),
                                                                  ("tasks/2/empty", "", 0o644), (long, String(repeating: "x", count: 1500), 0o600)]
        let archive = TarWriter.archive(files.map { ($0.path, Array($0.text.utf8), $0.mode) })
        let folder = FileManager.default.temporaryDirectory.path + "/layout-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Data(archive).write(to: URL(fileURLWithPath: folder + "/.layout.tar"))
        try "tasks/2\0".write(toFile: folder + "/.layout.clear", atomically: false, encoding: .utf8)
        // What a first run left: a rerun starts its tasks without it.
        try FileManager.default.createDirectory(atPath: folder + "/tasks/2", withIntermediateDirectories: true)
        try "2\n".write(toFile: folder + "/tasks/2/exit", atomically: false, encoding: .utf8)
        let unpacked = try Run.program("/bin/sh", ["-c", "cd \(folder) && \(SlurmExecutor.layoutCommand)"])
        #expect(unpacked.status == 0 && unpacked.stderr.isEmpty, "\(unpacked.stderr)")
        for file in files {
            #expect(try String(contentsOfFile: folder + "/" + file.path, encoding: .utf8) == file.text, "\(file.path)")
            #expect((try FileManager.default.attributesOfItem(atPath: folder + "/" + file.path)[.posixPermissions] as? Int) == Int(file.mode) & ~0o022)
        }
        #expect(!FileManager.default.fileExists(atPath: folder + "/tasks/2/exit"))
        #expect(!FileManager.default.fileExists(atPath: folder + "/.layout.tar") && !FileManager.default.fileExists(atPath: folder + "/.layout.clear"))
        // GNU tar lists exactly these entries.
        try Data(archive).write(to: URL(fileURLWithPath: folder + "/again.tar"))
        let listed = try Run.program("/bin/tar", ["-tf", folder + "/again.tar"])
        #expect(listed.stdout.split(separator: "\n").map(String.init) == files.map(\.path))
    }

    /// Archives GNU tar makes (long names, a link, an empty file, a newline in a name, the POSIX
    /// format's prefix field) read back entry by entry. (The harvest asks for --format=gnu.)
    @Test(arguments: ["gnu", "ustar"])
    func archivesGNUTarMakesAreRead(format: String) throws {
        let top = try TemporaryDirectory("tar-read")
        let long = String(repeating: "l", count: 90) + "/" + String(repeating: "m", count: 60)
        let expected: [String: String] = ["1/stdout": "out\n", "1/empty": "", "2/a\nb": "newline", "2/\(long)": "deep",
                                          "3/big": String(repeating: "0123456789", count: 600)]
        for (path, text) in expected { _ = try top.write("t/" + path, text) }
        #expect(symlink("/etc/passwd", top.path + "/t/1/link") == 0)
        let made = try Run.program("/bin/tar", ["--format=\(format)", "-C", top.path + "/t", "-cf", top.path + "/a.tar", "."])
        try #require(made.status == 0, "\(made.stderr)")
        let entries = try TarReader.entries([UInt8](try Data(contentsOf: URL(fileURLWithPath: top.path + "/a.tar"))))
        var files: [String: String] = [:]
        for entry in entries where entry.isRegularFile {
            files[String(entry.path.dropFirst(2))] = String(decoding: entry.data, as: UTF8.self)
        }
        #expect(files.keys.sorted() == expected.keys.sorted())
        #expect(files == expected, "the contents differ")
        #expect(entries.contains { $0.path == "./1/link" && !$0.isRegularFile })
    }

    @Test func aDamagedHeaderIsAnError() throws {
        var archive = TarWriter.archive([("a", Array("x".utf8), 0o644)])
        archive[10] ^= 0xff
        #expect(throws: CloudcError.self) { try TarReader.entries(archive) }
        #expect(try TarReader.entries(TarWriter.archive([("a", Array("x".utf8), 0o644)])).map(\.path) == ["a"])
    }
}

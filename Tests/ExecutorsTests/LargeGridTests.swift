import CloudcCore
@testable import Executors
import Foundation
import SSH
import Testing
import TestSupport

/// A researcher's sweep of tens of thousands of tasks: submitted, its states read and its outputs
/// harvested over a real sshd (OpenSSH on 127.0.0.1), as the slurm executor does it on a
/// frontend. SLURM is stood in for by Tests/peers/fake-slurm (sbatch finishes each array's tasks
/// at once): what is under test is cloudc's side, whose command lines and round trips grow with
/// the grid. `CLOUDC_GRID_SIZES` (e.g. `1000,30000`, as benchmarks/large-grid.sh sets) picks the
/// sizes; each prints its timings.
@Suite(.serialized, .long) struct LargeGridTests {
    static var sizes: [Int] {
        let given = ProcessInfo.processInfo.environment["CLOUDC_GRID_SIZES"] ?? "30000"
        return given.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    @Test func aGridOfTensOfThousandsSubmitsReportsAndHarvests() async throws {
        let directory = try TemporaryDirectory("cloudc-large-grid")
        let key = try makeSSHKey(in: directory.path)
        let server = try await SSHServer(directory: directory.path, authorizedKeys: [key + ".pub"],
                                         extraConfig: ["SetEnv PATH=\(Paths.peers)/fake-slurm:/usr/local/bin:/usr/bin:/bin"])
        defer { server.stop() }
        let session = try await SSHSession.connect(
            to: SSHEndpoint(host: "127.0.0.1", port: server.port, user: SSHServer.user),
            identity: SSHIdentity(privateKeyPath: key), knownHosts: KnownHosts(path: directory.path + "/known_hosts"), timeout: 10)
        defer { Task { await session.close() } }
        let executor = SlurmExecutor(shell: session)

        for size in Self.sizes {
            let tasks = (1...size).map { GridTask(index: $0, values: [GridValue(name: "seed", value: String($0))], command: "./train.sh --seed \($0)") }
            let run = RunRecord(id: "grid\(size)", cluster: "lab", executor: .slurm, createdAt: Date(),
                                spec: JobSpec(words: ["./train.sh", "--seed", "{1..\(size)}"], names: ["seed"], tasks: tasks,
                                              resources: Resources(), workDirectory: nil),
                                directory: directory.path + "/runs/grid\(size)", taskIndexes: Array(1...size), jobIDs: [], arrayOffsets: [])

            var began = Date()
            let submitted = try await executor.submit(run, progress: SilentProgress())
            let submitSeconds = Date().timeIntervalSince(began)
            #expect(submitted.jobIDs.count == (size + 999) / 1000, "one array per 1,000 tasks (MaxArraySize 1001)")
            #expect(submitted.arrayOffsets == Array(stride(from: 0, to: size, by: 1000)))

            began = Date()
            let statuses = try await executor.status(submitted)
            let statusSeconds = Date().timeIntervalSince(began)
            #expect(statuses.count == size)
            #expect(statuses.allSatisfy { $0.state == .done && $0.exitCode == 0 }, "\(Harvest.summaryLine(statuses))")

            began = Date()
            let local = directory.path + "/harvest\(size)"
            try await executor.collect(submitted, tasks: Array(1...size), into: local, progress: SilentProgress())
            let harvestSeconds = Date().timeIntervalSince(began)
            for index in [1, size / 2, size] {
                #expect(try String(contentsOfFile: "\(local)/\(index)/stdout", encoding: .utf8) == "task \(index) done\n")
                #expect(try String(contentsOfFile: "\(local)/\(index)/exit", encoding: .utf8) == "0\n")
            }
            let harvested = try FileManager.default.contentsOfDirectory(atPath: local).count
            #expect(harvested == size, "a folder per task")
            #expect(!FileManager.default.fileExists(atPath: local + "/command"))
            print(String(format: "timing: grid of %d tasks over sshd: submit %.2f s, status %.2f s, harvest %.2f s",
                         size, submitSeconds, statusSeconds, harvestSeconds))
        }
    }
}

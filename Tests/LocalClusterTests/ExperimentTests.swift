import CLITestSupport
import Foundation
import Testing
import TestSupport

/// A grid of runs on a real local SLURM cluster: `submit` → `jobs --wait` → `harvest --collect`,
/// a failed task rerun on its own, and the same grid through the local executor. Needs root.
///
/// Part of the serialized `LocalClusterTests`, so that its cluster and that suite's never run at
/// once (two clusters booting and restarting daemons side by side overload a small machine).
extension LocalClusterTests {
    static func experimentConfig(root: String) -> String {
        config(root: root, template: "exp", groups: """
            frontend: {count: 1}
            compute: {count: 2}
        """)
    }

    /// The experiment: a loss from lr and seed (deterministic), the host it ran on in another
    /// file; lr 0.01 with seed 3 fails until the work folder holds `fixed`.
    static let train = """
    #!/bin/bash
    lr="$2"; seed="$4"
    hostname > host.txt
    sleep 2
    if [ "$lr" = 0.01 ] && [ "$seed" = 3 ] && [ ! -e fixed ]; then echo "diverged at step 7" >&2; exit 2; fi
    echo "loss,steps" > results.csv
    echo "$(awk -v l="$lr" -v s="$seed" 'BEGIN { printf "%.4f", l * 10 + s / 100 }'),$((CLOUDC_TASK * 10))" >> results.csv

    """

    @Test func aGridRunsAsOneArrayIsHarvestedAndItsFailedTaskRerun() async throws {
        guard geteuid() == 0 else {
            throw PeerError("the local cluster tests need root (systemd-nspawn, bridges, mounts): run them as root, as CI does")
        }
        let root = try TemporaryDirectory("cloudc-local")
        let user = try UserMachine(moto: nil, config: Self.experimentConfig(root: root.path),
                                   extraEnvironment: ["CLOUDC_SHARE": Paths.repoRoot, "CLOUDC_SSH_WAIT": "120"])
        do {
            try await runExperiments(user)
        } catch {
            _ = await user.cloudc("stop", "exp")
            throw error
        }
        let stop = await user.cloudc("stop", "exp")
        #expect(stop.status == 0, "\(stop.stderr)")
    }

    func runExperiments(_ user: UserMachine) async throws {
        let start = await user.cloudc("start", "exp")
        #expect(start.status == 0, "\(start.stderr)")
        guard start.status == 0 else { throw PeerError("start failed") }
        let work = try TemporaryDirectory("cloudc-work")
        let script = try work.write("train.sh", Self.train)
        #expect(chmod(script, 0o755) == 0)
        let out = try TemporaryDirectory("cloudc-out")

        // submit → one job array of 10 tasks.
        let began = Date()
        let submit = await user.cloudc("submit", "exp", "--dir", work.path, "--", "./train.sh", "--lr", "{0.1,0.01}", "--seed", "{1..5}")
        #expect(submit.status == 0, "\(submit.stderr)")
        let run = submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(run.hasPrefix("r"), "submit printed \(submit.stdout)")
        #expect(submit.stderr.contains("Submitting 10 task(s) (grid over lr, seed)"), "\(submit.stderr)")
        #expect(submit.stderr.contains("1 of 1 file(s) uploaded"), "\(submit.stderr)")
        let record = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: user.home.path + "/.cloudc/runs/exp/\(run).json"))) as? [String: Any]
        #expect((record?["jobIDs"] as? [String])?.count == 1, "one job array: \(String(describing: record?["jobIDs"]))")

        // jobs --wait: 9 done, 1 failed (and exit 1 for it).
        let waited = await user.cloudc("jobs", "exp", run, "--wait", "--interval", "1")
        print(String(format: "timing: submit to all 10 tasks ended (slurm executor, 2 compute nodes): %.1f s", Date().timeIntervalSince(began)))
        #expect(waited.status == 1, "\(waited.stderr)")
        #expect(waited.stderr.contains("10 tasks: 9 done, 1 failed"), "\(waited.stderr)")
        #expect(waited.stdout.contains("8     failed  2     0.01  3"), "\(waited.stdout)")

        // harvest: outputs of every task, a 9-row table with the grid's columns, the failure's stderr.
        let first = await user.cloudc("harvest", "exp", run, "--into", out.path + "/slurm", "--collect", "results.csv")
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("task 8 failed (exit 2) [lr=0.01 seed=3]") && first.stderr.contains("diverged at step 7"), "\(first.stderr)")
        #expect(first.stderr.contains("cloudc submit --rerun \(run)"))
        let partial = try String(contentsOfFile: out.path + "/slurm/results.csv", encoding: .utf8)
        #expect(partial.split(separator: "\n").first == "task,lr,seed,loss,steps")
        #expect(partial.split(separator: "\n").count == 10, "\(partial)")
        let hosts = Set((1...10).compactMap { try? String(contentsOfFile: out.path + "/slurm/\($0)/host.txt", encoding: .utf8) }
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        #expect(hosts == ["compute001", "compute002"], "the array ran on \(hosts)")

        // --rerun runs only the failed task, with the work folder's one new file uploaded.
        _ = try work.write("fixed", "")
        let rerun = await user.cloudc("submit", "exp", "--rerun", run)
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(rerun.stderr.contains("Running again 1 failed task(s) of \(run): 8"), "\(rerun.stderr)")
        #expect(rerun.stderr.contains("1 of 2 file(s) uploaded (1 unchanged)"), "\(rerun.stderr)")
        let after = await user.cloudc("jobs", "exp", run, "--wait", "--interval", "1")
        #expect(after.status == 0 && after.stderr.contains("10 tasks: 10 done"), "\(after.stderr)")
        let second = await user.cloudc("harvest", "exp", run, "--into", out.path + "/slurm", "--collect", "results.csv")
        #expect(second.status == 0, "\(second.stderr)")
        let slurmTable = try String(contentsOfFile: out.path + "/slurm/results.csv", encoding: .utf8)
        #expect(slurmTable.split(separator: "\n").count == 11, "\(slurmTable)")
        #expect(slurmTable.contains("8,0.01,3,0.1300,80"), "\(slurmTable)")

        // The same grid on this machine gives the same table.
        let local = await user.cloudc("submit", "exp", "--executor", "local", "--dir", work.path, "--",
                                      "./train.sh", "--lr", "{0.1,0.01}", "--seed", "{1..5}")
        #expect(local.status == 0, "\(local.stderr)")
        let localRun = local.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let localWait = await user.cloudc("jobs", "exp", localRun, "--wait", "--interval", "0.5")
        #expect(localWait.status == 0, "\(localWait.stderr)")
        let localHarvest = await user.cloudc("harvest", "exp", localRun, "--into", out.path + "/local", "--collect", "results.csv")
        #expect(localHarvest.status == 0, "\(localHarvest.stderr)")
        #expect(try String(contentsOfFile: out.path + "/local/results.csv", encoding: .utf8) == slurmTable)

        // Both runs are listed.
        let listed = await user.cloudc("jobs", "exp")
        #expect(listed.stdout.contains(run) && listed.stdout.contains(localRun), "\(listed.stdout)")
    }
}

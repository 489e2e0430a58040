import CLITestSupport
import Foundation
import Testing
import TestSupport

/// `submit`, `jobs` and `harvest` as a user types them, with the local executor (no cluster needed).
@Suite struct JobCommandsTests {
    static let config = """
    clouds:
      here:
        provider: local
    logins:
      default:
        user: root
        private_key: $HOME/id_ed25519
    clusters:
      box:
        cloud: here
        groups:
          frontend: {count: 1}
    """

    @Test func aGridRunsHereIsFollowedAndHarvested() async throws {
        let user = try UserMachine(moto: nil, config: Self.config)
        let script = "echo x,y > r.csv; echo $CLOUDC_N,$CLOUDC_TASK >> r.csv; [ \"$2\" = b ] && echo \"bad mode\" >&2 && exit 4; true"
        let submit = await user.cloudc("submit", "--executor", "local", "--", "sh", "-c", script, "run", "--mode", "{a,b}", "--n", "{1..3}")
        #expect(submit.status == 0, "\(submit.stderr)")
        #expect(submit.stderr.contains("Submitting 6 task(s) (grid over mode, n) to this machine"), "\(submit.stderr)")
        let run = submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let waited = await user.cloudc("jobs", run, "--wait", "--interval", "0.2")
        #expect(waited.status == 1, "a failed task makes --wait exit 1: \(waited.stderr)")
        #expect(waited.stderr.contains("6 tasks: 3 done, 3 failed"), "\(waited.stderr)")
        let out = try TemporaryDirectory("cloudc-harvest")
        let harvest = await user.cloudc("harvest", run, "--into", out.path, "--collect", "r.csv")
        #expect(harvest.status == 0, "\(harvest.stderr)")
        #expect(harvest.stderr.contains("task 4 failed (exit 4) [mode=b n=1]") && harvest.stderr.contains("    bad mode"), "\(harvest.stderr)")
        #expect(try String(contentsOfFile: out.path + "/r.csv", encoding: .utf8) == "task,mode,n,x,y\n1,a,1,1,1\n2,a,2,2,2\n3,a,3,3,3\n")
        let listed = await user.cloudc("jobs")
        #expect(listed.stdout.contains("TASK  STATE") && listed.stderr.contains("\(run): 6 tasks: 3 done, 3 failed"), "\(listed.stderr)")
    }

    @Test func aRunIsCancelled() async throws {
        let user = try UserMachine(moto: nil, config: Self.config)
        let submit = await user.cloudc("submit", "--executor", "local", "--", "sleep", "{3141,3142}")
        #expect(submit.status == 0, "\(submit.stderr)")
        let run = submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let cancel = await user.cloudc("jobs", run, "--cancel")
        #expect(cancel.status == 0, "\(cancel.stderr)")
        #expect(cancel.stderr.contains("Cancelled the unfinished tasks of \(run)") && cancel.stderr.contains("2 tasks: 2 cancelled"),
                "\(cancel.stderr)")
        let processes = try await Run.programOffPool("/usr/bin/pgrep", ["-f", "sleep 314[12]"])
        #expect(processes.stdout.isEmpty, "left running: \(processes.stdout)")
    }

    @Test func mistakesAreNamedWithAFix() async throws {
        let user = try UserMachine(moto: nil, config: Self.config)
        let none = await user.cloudc("submit", "--executor", "local")
        #expect(none.status != 0 && none.stderr.contains("give the command after --"), "\(none.stderr)")
        let brace = await user.cloudc("submit", "--executor", "local", "--", "echo", "{1..x}")
        #expect(brace.status != 0 && brace.stderr.contains("fix:"), "\(brace.stderr)")
        let noCluster = await user.cloudc("submit", "--", "echo", "hi")
        #expect(noCluster.status != 0 && noCluster.stderr.contains("--executor local"), "\(noCluster.stderr)")
        let unknown = await user.cloudc("harvest", "r1999")
        #expect(unknown.status != 0, "\(unknown.stderr)")
        let dir = await user.cloudc("submit", "--executor", "local", "--dir", "/nonexistent/x", "--", "true")
        #expect(dir.status != 0 && dir.stderr.contains("is not a folder"), "\(dir.stderr)")
    }
}

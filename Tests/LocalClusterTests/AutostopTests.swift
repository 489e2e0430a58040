import CLITestSupport
import CloudcCore
import Foundation
import State
import Testing
import TestSupport

/// Autostop on a real local SLURM cluster: the nodes power themselves off (their systemd-nspawn
/// ends) once no job is pending or running and nobody is logged in, workers first. Needs root.
@Suite(.serialized, .needsRoot) struct AutostopTests {
    @Test func anIdleClusterPowersItselfOffWorkersFirst() async throws {
        let (root, user) = try await LocalClusterTests.startSmallLab()
        do {
            let state = try #require(try StateStore(home: user.home.path + "/.cloudc").load("lab"))
            let folder = root.path + "/lab-" + state.incarnation + "/nodes/"
            let running = { (node: String) in HostView.nspawnRunning(root: folder + node + "/root") }
            #expect(running("frontend001") && running("compute001") && running("compute002"))

            // Set on the running cluster: the nodes get the minutes, a job keeps it up.
            let set = await user.cloudc("autostop", "lab", "1m")
            #expect(set.status == 0 && set.stderr.contains("Cluster lab powers itself off after 1m idle"), "\(set.stderr)")
            let job = await user.cloudc("ssh", "lab", "--", "cat /etc/cloudc/autostop; sbatch --wrap 'sleep 75' -o /dev/null | cut -d' ' -f4")
            #expect(job.stdout.split(separator: "\n").first == "1", "\(job.stdout) \(job.stderr)")
            let idleFrom = Date()

            // Nobody logs in from here on: only the host's view is watched.
            var workersOff: Date?, frontendOff: Date?
            while Date().timeIntervalSince(idleFrom) < 360, frontendOff == nil {
                if workersOff == nil, !running("compute001"), !running("compute002") { workersOff = Date() }
                if !running("frontend001") { frontendOff = Date() }
                try await Task.sleep(nanoseconds: 1_000_000_000)
            }
            let off = try #require(frontendOff, "the cluster was still up \(Int(Date().timeIntervalSince(idleFrom))) s after it went idle")
            let workers = try #require(workersOff, "the frontend went off while a worker was still up")
            #expect(workers <= off)
            // The job ran its 75 s first: the idle minute counts from its end (as the 20 s
            // checks saw it; without the job the cluster would be off some 60–100 s in).
            #expect(off.timeIntervalSince(idleFrom) > 75 + 40, "off after \(off.timeIntervalSince(idleFrom)) s")
            print(String(format: "timing: autostop 1m, a 75 s job: workers off %.0f s, frontend off %.0f s after the job was submitted (%.0f s after it ended)",
                         workers.timeIntervalSince(idleFrom), off.timeIntervalSince(idleFrom), off.timeIntervalSince(idleFrom) - 75))

            let listed = await user.cloudc("list")
            #expect(listed.stdout.contains("off (autostop)") && listed.stderr.contains("lab was powered off by autostop"), "\(listed.stdout) \(listed.stderr)")
        } catch {
            _ = await user.cloudc("stop", "lab")
            throw error
        }
        let stop = await user.cloudc("stop", "lab")
        #expect(stop.status == 0, "\(stop.stderr)")
        #expect(HostView.entries(root.path).isEmpty, "\(HostView.entries(root.path))")
    }
}

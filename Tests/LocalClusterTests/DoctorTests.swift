import CLITestSupport
import CloudcCore
import Foundation
import State
import Testing
import TestSupport

/// `cloudc doctor` on a real local SLURM cluster: a node removed behind cloudc's back is lost
/// in the cloud's view and still listed by SLURM; `--fix` forgets it and sets SLURM up again.
@Suite(.serialized, .needsRoot) struct DoctorTests {
    @Test func aNodeRemovedBehindCloudcsBackIsForgottenAndLeavesSLURM() async throws {
        let (root, user) = try await LocalClusterTests.startSmallLab()
        do {
            #expect(await user.cloudc("doctor", "lab").status == 0)
            // compute002 goes as a VM deleted in a console would: powered off, its files removed.
            let state = try #require(try StateStore(home: user.home.path + "/.cloudc").load("lab"))
            let folder = root.path + "/lab-" + state.incarnation + "/nodes/compute002"
            let gone = try Run.program("/bin/sh", ["-c", """
                for p in $(pgrep -f '^systemd-nspawn --boot --directory=\(folder)/root'); do pkill -9 -P $p; kill -9 $p; done; sleep 1
                umount -l '\(folder)/root'; rm -rf '\(folder)'
                """])
            #expect(gone.status == 0, "\(gone.stderr)")

            let sick = await user.cloudc("doctor", "lab")
            print("doctor after a local node was removed behind cloudc's back:\n\(sick.stdout)")
            #expect(sick.status == 1, "\(sick.stderr)")
            #expect(sick.stdout.contains("✗ lost-node compute002"), "\(sick.stdout)")
            #expect(sick.stdout.contains("✗ slurm-unknown-node compute002: SLURM lists compute002, which the cluster no longer has"), "\(sick.stdout)")
            let fixed = await user.cloudc("doctor", "lab", "--fix")
            #expect(fixed.status == 0, "\(fixed.stdout) \(fixed.stderr)")
            let nodes = await user.cloudc("ssh", "lab", "--", "sinfo -h -N -o %N | sort -u")
            #expect(nodes.stdout.split(separator: "\n") == ["compute001"], "\(nodes.stdout)")
            #expect(await user.cloudc("doctor", "lab").status == 0)
        } catch {
            _ = await user.cloudc("stop", "lab")
            throw error
        }
        #expect(await user.cloudc("stop", "lab").status == 0)
        #expect(HostView.entries(root.path).isEmpty, "\(HostView.entries(root.path))")
    }
}

import CLITestSupport
import CloudcCore
import Foundation
import State
import Testing
import TestSupport

/// `cloudc resize` killed with SIGKILL at each point of its work, then the same command (or
/// `start`, or `setup`) again: the cluster reaches exactly the size first asked for, every node
/// configured, and nothing is launched or removed twice. Checked in the cloud (the local
/// provider's node folders and running nodes) and in SLURM. Also: `resize -1` waits for the jobs
/// on the node it removes, and `--force` does not. Needs root (as in CI).
@Suite(.serialized, .needsRoot) struct InterruptedResizeTests {
    /// The compute nodes as the local cloud has them: node folders with their instance.json, and
    /// how many of them run a systemd-nspawn.
    static func cloudNodes(root: String) -> (folders: [String], running: Int) {
        var folders: [String] = []
        for cluster in HostView.entries(root) {
            let nodes = root + "/" + cluster + "/nodes"
            for node in HostView.entries(nodes) where FileManager.default.fileExists(atPath: "\(nodes)/\(node)/instance.json") {
                folders.append(node)
            }
        }
        let running = HostView.leftovers(root: root, bridges: []).filter { $0.hasPrefix("process ") }.count
        return (folders.filter { $0.hasPrefix("compute") }.sorted(), running)
    }

    @Test func aKilledResizeIsFinishedNotRepeated() async throws {
        try LocalClusterTests.requireRoot()
        let root = try TemporaryDirectory("cloudc-local")
        let user = try UserMachine(moto: nil, config: LocalClusterTests.config(root: root.path, template: "lab", groups: """
            frontend: {count: 1}
            compute: {count: 1}
            """), extraEnvironment: ["CLOUDC_SHARE": Paths.repoRoot, "CLOUDC_SSH_WAIT": "120"])
        let cluster = LocalClusterTests.Cluster(user: user, root: root)
        do {
            let start = await user.cloudc("start", "lab")
            try #require(start.status == 0, "\(start.stderr)")
            try await exercise(cluster, root: root.path)
        } catch {
            _ = await user.cloudc("stop", "lab")
            throw error
        }
        let stop = await user.cloudc("stop", "lab")
        #expect(stop.status == 0, "\(stop.stderr)")
    }

    /// The cluster has exactly `names` as compute nodes: in cloudc's state, as local instances
    /// (all running), and in SLURM (all idle).
    func expectCompute(_ names: [String], _ cluster: LocalClusterTests.Cluster, root: String,
                       sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let state = try #require(try StateStore(home: cluster.user.home.path + "/.cloudc").load("lab"), sourceLocation: sourceLocation)
        #expect(state.nodes.filter { $0.group == "compute" }.map(\.name).sorted() == names, sourceLocation: sourceLocation)
        #expect(state.spec.group(named: "compute")?.count == names.count, sourceLocation: sourceLocation)
        #expect(state.resize == nil, "a resize is still recorded", sourceLocation: sourceLocation)
        #expect(state.setupCompletedAt != nil, "the cluster is left with a setup due", sourceLocation: sourceLocation)
        let cloud = Self.cloudNodes(root: root)
        #expect(cloud.folders == names, "local instances: \(cloud.folders)", sourceLocation: sourceLocation)
        #expect(cloud.running == names.count + 1, "running nodes: \(cloud.running)", sourceLocation: sourceLocation)
        let sinfo = try await cluster.until("SLURM to have \(names) idle", "sinfo -h -N -p compute -o '%N %t'") { out in
            let lines = out.split(separator: "\n").map(String.init).sorted()
            return lines == names.map { "\($0) idle" }
        }
        #expect(!sinfo.isEmpty, sourceLocation: sourceLocation)
    }

    /// Runs the built binary with `arguments` until it kills itself at `failpoint`.
    func killed(_ user: UserMachine, _ arguments: [String], at failpoint: String,
                sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let run = try await user.runCloudcKilled(arguments, atLine: nil, delay: 400, seconds: 400,
                                                 environment: ["CLOUDC_FAILPOINT": failpoint])
        #expect(!run.stderr.contains("Resized lab"), "the failpoint \(failpoint) was not hit: \(run.stderr)", sourceLocation: sourceLocation)
        let state = try #require(try StateStore(home: user.home.path + "/.cloudc").load("lab"), sourceLocation: sourceLocation)
        #expect(state.resize != nil, "killed at \(failpoint), no resize is recorded", sourceLocation: sourceLocation)
    }

    func exercise(_ cluster: LocalClusterTests.Cluster, root: String) async throws {
        let user = cluster.user
        try await expectCompute(["compute001"], cluster, root: root)

        // Grow, killed before the launch call: the same command finishes it, once.
        try await killed(user, ["resize", "lab", "+1", "compute"], at: "launch.before-call")
        var again = await user.cloudc("resize", "lab", "+1", "compute")
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("Finishing the interrupted `cloudc resize +1 compute`"), "\(again.stderr)")
        #expect(again.stderr.contains("not repeated"), "\(again.stderr)")
        try await expectCompute(["compute001", "compute002"], cluster, root: root)

        // Killed while the local cloud boots the node (its folder made, nothing started): that
        // instance never finishes by itself, so it is replaced, not waited on.
        try await killed(user, ["resize", "lab", "+1", "compute"], at: "local.after-claim")
        #expect(Self.cloudNodes(root: root).folders == ["compute001", "compute002", "compute003"])
        again = await user.cloudc("resize", "lab", "+1", "compute")
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("launch was cut short"), "\(again.stderr)")
        try await expectCompute(["compute001", "compute002", "compute003"], cluster, root: root)

        // Killed after the node runs, before its setup: `start` finishes the resize.
        try await killed(user, ["resize", "lab", "+1", "compute"], at: "resize.before-setup")
        again = await user.cloudc("start", "lab")
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("Finishing the interrupted `cloudc resize +1 compute`"), "\(again.stderr)")
        try await expectCompute(["compute001", "compute002", "compute003", "compute004"], cluster, root: root)

        // Killed during the setup of the new node: `setup` finishes it.
        try await killed(user, ["resize", "lab", "+1", "compute"], at: "setup.after-role.common")
        again = await user.cloudc("setup", "lab")
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("Finishing the interrupted"), "\(again.stderr)")
        try await expectCompute(["compute001", "compute002", "compute003", "compute004", "compute005"], cluster, root: root)

        // Shrink, killed once the node is drained: the same command removes it, once.
        try await killed(user, ["resize", "lab", "-1", "compute"], at: "resize.after-drain")
        again = await user.cloudc("resize", "lab", "-1", "compute")
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("not repeated"), "\(again.stderr)")
        try await expectCompute(["compute001", "compute002", "compute003", "compute004"], cluster, root: root)

        // Killed after SLURM forgot the node, before it is deleted.
        try await killed(user, ["resize", "lab", "-1", "compute"], at: "resize.before-delete")
        #expect(!(await cluster.sh("sinfo -h -N -o %N")).contains("compute004"))
        again = await user.cloudc("resize", "lab", "-1", "compute")
        #expect(again.status == 0, "\(again.stderr)")
        try await expectCompute(["compute001", "compute002", "compute003"], cluster, root: root)
        let conf = await cluster.sh("cat /etc/slurm/slurm.conf")
        #expect(!conf.contains("compute004") && !conf.contains("compute005") && conf.contains("compute003"), "\(conf)")

        // A job on the node being removed: the resize waits for it to end.
        let marker = "/home/job-on-compute003-\(UUID().uuidString.prefix(6))"
        let job = await cluster.sh("sbatch --parsable -p compute -w compute003 --wrap 'sleep 8; touch \(marker)'")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try await cluster.until("the job on compute003 to run", "squeue -h -j \(job) -o '%T %N'") { $0.contains("RUNNING compute003") }
        let waited = await user.cloudc("resize", "lab", "-1", "compute")
        #expect(waited.status == 0, "\(waited.stderr)")
        #expect(waited.stderr.contains("waiting for 1 job on compute003 to finish: \(job)"), "\(waited.stderr)")
        #expect(!(await cluster.sh("test -e \(marker) && echo done")).isEmpty, "compute003 went before its job ended")
        try await expectCompute(["compute001", "compute002"], cluster, root: root)

        // With --force it does not wait: the node goes while its job runs.
        let long = await cluster.sh("sbatch --parsable -p compute -w compute002 --wrap 'sleep 600'")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try await cluster.until("the long job on compute002 to run", "squeue -h -j \(long) -o '%T %N'") { $0.contains("RUNNING compute002") }
        let forced = await user.cloudc("resize", "--force", "lab", "-1", "compute")
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(!forced.stderr.contains("waiting for"), "\(forced.stderr)")
        try await expectCompute(["compute001"], cluster, root: root)
        #expect(!(await cluster.sh("squeue -h -o '%i %T %N'")).contains("RUNNING compute002"))
    }
}

import CLITestSupport
import CloudcCore
import Foundation
import State
import Testing
import TestSupport

/// A real SLURM cluster on this machine: systemd-nspawn nodes, configured over SSH by the
/// shipped playbook, used with sbatch/srun, resized and stopped. Needs root (as in CI).
@Suite(.serialized, .needsRoot) struct LocalClusterTests {
    static func config(root: String, computeMin: Int = 1) -> String {
        config(root: root, template: "lab", groups: """
            frontend: {count: 1}
            compute: {count: 2, min: \(computeMin)}
            gpu: {count: 1}
        """)
    }

    /// Starts cluster `lab` (1 frontend, 2 compute, the slurm setup) under a root of its own;
    /// the test stops it.
    static func startSmallLab(sourceLocation: SourceLocation = #_sourceLocation) async throws -> (root: TemporaryDirectory, user: UserMachine) {
        try requireRoot()
        let root = try TemporaryDirectory("cloudc-local")
        let config = config(root: root.path, template: "lab", groups: """
            frontend: {count: 1}
            compute: {count: 2}
            """)
        let user = try UserMachine(moto: nil, config: config, extraEnvironment: ["CLOUDC_SHARE": Paths.repoRoot])
        let start = await user.cloudc("start", "lab")
        #expect(start.status == 0, "\(start.stderr)", sourceLocation: sourceLocation)
        return (root, user)
    }

    /// A local cloud, the root login and the slurm setup, with one template of these groups
    /// (YAML lines indented by four spaces).
    static func config(root: String, template: String, groups: String) -> String {
        """
        clouds:
          local:
            provider: local
            root: \(root)
        logins:
          default:
            user: root
            private_key: $HOME/id_ed25519
        setups:
          slurm:
            playbook: slurm
        clusters:
          \(template):
            cloud: local
            setup: slurm
            groups:
        \(groups.split(separator: "\n").map { "      " + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "\n"))
        """
    }

    struct Cluster {
        let user: UserMachine
        let root: TemporaryDirectory

        /// Runs a shell command on a node through `cloudc ssh`; fails the test on a non-zero status.
        func sh(_ command: String, on node: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async -> String {
            var args = ["ssh", "lab"]
            if let node { args += ["-n", node] }
            args += ["--", command]
            let result = await user.cloudc(args)
            #expect(result.status == 0, "`\(command)` on \(node ?? "frontend"): \(result.stderr)", sourceLocation: sourceLocation)
            return result.stdout
        }

        /// Polls `command` on the frontend until its output satisfies `done`.
        func until(_ what: String, timeout: Double = 120, _ command: String,
                   _ done: (String) -> Bool) async throws -> String {
            let start = Date()
            while true {
                let out = await user.cloudc(["ssh", "lab", "--", command]).stdout
                if done(out) { return out }
                if Date().timeIntervalSince(start) > timeout {
                    throw PeerError("timed out waiting for \(what); last output of `\(command)`: \(out)")
                }
                try await Task.sleep(nanoseconds: 1_000_000_000)
            }
        }
    }

    static func requireRoot() throws {
        guard geteuid() == 0 else {
            throw PeerError("the local cluster tests need root (systemd-nspawn, bridges, mounts): run them as root, as CI does")
        }
    }

    func timed<T>(_ label: String, _ body: () async throws -> T) async rethrows -> T {
        let start = Date()
        let value = try await body()
        print(String(format: "timing: %@ %.1f s", label, Date().timeIntervalSince(start)))
        return value
    }

    @Test func startRunJobsResizeAndStopLeaveNothingBehind() async throws {
        try Self.requireRoot()
        let root = try TemporaryDirectory("cloudc-local")
        let user = try UserMachine(moto: nil, config: Self.config(root: root.path),
                                   extraEnvironment: ["CLOUDC_SHARE": Paths.repoRoot, "CLOUDC_SSH_WAIT": "120"])
        let cluster = Cluster(user: user, root: root)
        do {
            try await exercise(cluster)
        } catch {
            // Never leave nodes running on the machine (nor their folders to the temporary-directory cleanup).
            _ = await user.cloudc("stop", "lab")
            throw error
        }
    }

    func exercise(_ cluster: Cluster) async throws {
        let user = cluster.user, root = cluster.root

        // start → a configured SLURM cluster.
        let start = await timed("start to SLURM ready") { await user.cloudc("start", "lab") }
        #expect(start.status == 0, "\(start.stderr)")
        guard start.status == 0 else { throw PeerError("start failed") }
        #expect(start.stderr.contains("[slurm-controller] frontend001: changed"))
        let listed = await user.cloudc("list")
        #expect(listed.stdout.contains("running") && listed.stdout.contains("done"), "\(listed.stdout)")

        // SLURM sees both compute nodes idle (sinfo -N: one line per node).
        let idle = try await cluster.until("compute nodes idle", "sinfo -h -N -p compute -o '%N %t'") {
            $0.contains("compute001 idle") && $0.contains("compute002 idle")
        }
        #expect(idle.split(separator: "\n").count == 2)

        // A second setup changes nothing, as the nodes themselves tell: no daemon restarted,
        // no file rewritten (not only cloudc's own count of changes).
        let probe = "systemctl show -p MainPID --value munge slurmd; stat -c '%n %Y %i' /etc/slurm/slurm.conf /etc/munge/munge.key /etc/hosts"
        let before = await cluster.sh(probe, on: "compute001")
        let controllerBefore = await cluster.sh("systemctl show -p MainPID --value slurmctld")
        let again = await timed("second setup") { await user.cloudc("setup", "lab") }
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains(" 0 changed"), "\(again.stderr)")
        #expect(await cluster.sh(probe, on: "compute001") == before)
        #expect(await cluster.sh("systemctl show -p MainPID --value slurmctld") == controllerBefore)

        // The cluster handed to other tools: slurm.conf, ssh, Ansible, ClusterJob, JSON, ~/.ssh/config.
        let sshConfigBefore = try await timed("export checks") { try await exportChecks(cluster) }

        // The config SLURM runs is the one cloudc generated, and slurmctld parsed it.
        let conf = await cluster.sh("scontrol show partition compute")
        #expect(conf.contains("Nodes=compute[001-002]"))

        // A 4-task job array runs on both compute nodes; its output is read back over SSH.
        let job = await cluster.sh("mkdir -p /home/jobs && sbatch --parsable -p compute --array=1-4 -o '/home/jobs/out-%a.txt' --wrap 'hostname; sleep 3'")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Int(job) != nil, "sbatch printed \(job)")
        _ = try await cluster.until("the array to finish", "squeue -h -j \(job)") { $0.isEmpty }
        let outputs = await cluster.sh("cat /home/jobs/out-1.txt /home/jobs/out-2.txt /home/jobs/out-3.txt /home/jobs/out-4.txt")
        let hosts = outputs.split(separator: "\n").map(String.init)
        #expect(hosts.count == 4)
        #expect(Set(hosts) == ["compute001", "compute002"], "tasks ran on \(hosts)")

        // GPUs without a GPU: device nodes with NVIDIA's major number and an nvidia-smi that
        // reports them, then setup again: gres.conf and slurm.conf carry them, srun hands one out.
        _ = await cluster.sh("""
            mknod -m 666 /dev/nvidia0 c 195 0 && mknod -m 666 /dev/nvidia1 c 195 1 &&
            printf '#!/bin/sh\\necho 0\\necho 1\\n' > /usr/local/bin/nvidia-smi && chmod +x /usr/local/bin/nvidia-smi
            """, on: "gpu001")
        let gpuSetup = await user.cloudc("setup", "lab")
        #expect(gpuSetup.status == 0, "\(gpuSetup.stderr)")
        let gres = await cluster.sh("cat /etc/slurm/gres.conf; grep '^NodeName=gpu001' /etc/slurm/slurm.conf")
        #expect(gres.contains("NodeName=gpu001 Name=gpu File=/dev/nvidia0"))
        #expect(gres.contains("NodeName=gpu001 Name=gpu File=/dev/nvidia1"))
        #expect(gres.contains("Gres=gpu:2"))
        _ = try await cluster.until("gpu001 idle with its GPUs", "sinfo -h -N -n gpu001 -o '%t %G'") {
            $0.hasPrefix("idle") && $0.contains("gpu:2")
        }
        let visible = await cluster.sh("srun -p gpu --gres=gpu:1 printenv CUDA_VISIBLE_DEVICES")
        #expect(visible.trimmingCharacters(in: .whitespacesAndNewlines) == "0")

        // resize +1 while a job runs: a third compute node joins, the job lives on.
        let long = await cluster.sh("sbatch --parsable -p compute --wrap 'sleep 300'").trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try await cluster.until("the long job to run", "squeue -h -j \(long) -o %T") { $0.contains("RUNNING") }
        let grow = await timed("resize +1") { await user.cloudc("resize", "+1", "compute") }
        #expect(grow.status == 0, "\(grow.stderr)")
        _ = try await cluster.until("compute003 idle", "sinfo -h -N -n compute003 -o %t") { $0.hasPrefix("idle") }
        let installedHosts = user.home.path + "/.ssh/cloudc-lab.config"
        #expect(try String(contentsOfFile: installedHosts, encoding: .utf8).contains("Host lab-compute003\n"), "resize refreshes the installed hosts")
        #expect(await cluster.sh("squeue -h -j \(long) -o %T").contains("RUNNING"))

        // resize -1: the highest-numbered node is drained and removed; the job still runs.
        let shrink = await timed("resize -1") { await user.cloudc("resize", "-1", "compute") }
        #expect(shrink.status == 0, "\(shrink.stderr)")
        #expect(!(await cluster.sh("sinfo -h -N -o %N")).contains("compute003"))
        #expect(await cluster.sh("squeue -h -j \(long) -o %T").contains("RUNNING"))
        let nodes = await user.cloudc("list-nodes", "lab")
        #expect(!nodes.stdout.contains("compute003") && nodes.stdout.contains("compute002"))
        #expect(try !String(contentsOfFile: installedHosts, encoding: .utf8).contains("compute003"))

        // Growing again reuses the freed address with a new node and host key: no stale pin refuses it.
        let regrow = await user.cloudc("resize", "+1", "compute")
        #expect(regrow.status == 0, "\(regrow.stderr)")
        _ = try await cluster.until("the new compute003 idle", "sinfo -h -N -n compute003 -o %t") { $0.hasPrefix("idle") }

        // The group's min holds.
        let belowMin = await user.cloudc("resize", "-3", "compute")
        #expect(belowMin.status != 0 && belowMin.stderr.contains("min"))

        // stop leaves no container, mount, interface, directory or state behind.
        let bridges = try recordedBridges(user)
        #expect(!bridges.isEmpty)
        let stop = await timed("stop") { await user.cloudc("stop", "lab") }
        #expect(stop.status == 0, "\(stop.stderr)")
        try expectNothingLeft(root: root.path, user: user, bridges: bridges)

        // stop took the installed SSH config out again: the user's ~/.ssh/config is as it was.
        #expect(try String(contentsOfFile: user.home.path + "/.ssh/config", encoding: .utf8) == sshConfigBefore)
        #expect(!FileManager.default.fileExists(atPath: user.home.path + "/.ssh/cloudc-lab.config"))
        #expect(stop.stderr.contains("Include line"), "\(stop.stderr)")
    }

    /// `cloudc export` and `cloudc ssh-config` against the running cluster: the exported slurm.conf
    /// is the frontend's byte for byte; the system ssh logs into every node with the exported config
    /// (nodes behind the frontend through ProxyJump) and the host keys cloudc pinned; Ansible reads
    /// the inventory and runs a command on every node through it; `ssh-config --install` adds its
    /// line on top of ~/.ssh/config, once. Returns the ~/.ssh/config from before the install.
    func exportChecks(_ cluster: Cluster) async throws -> String {
        let user = cluster.user
        let out = user.home.path + "/export"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)

        let sshConfig = await user.cloudc("export", "lab", "--format", "ssh-config", "-o", out + "/lab.ssh")
        #expect(sshConfig.status == 0, "\(sshConfig.stderr)")
        func ssh(_ config: String, _ host: String, _ command: String) async throws -> Run {
            try await Run.programOffPool("/usr/bin/ssh", ["-F", config, "-o", "BatchMode=yes", host, command])
        }
        // Local compute nodes are reachable from this machine directly too, so the hop is proven by
        // where each login comes from (the client address sshd hands the session): the frontend's
        // address for the nodes behind it, not this machine's.
        let frontendAddresses = try await ssh(out + "/lab.ssh", "lab", "hostname -I").stdout
            .split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        #expect(!frontendAddresses.isEmpty)
        func client(_ output: String) -> String {
            output.split(separator: "\n").last.map { String($0.split(separator: " ").first ?? "") } ?? ""
        }
        for (host, node) in [("lab", "frontend001"), ("lab-compute001", "compute001"), ("lab-compute002", "compute002"),
                             ("lab-gpu001", "gpu001")] {
            let run = try await ssh(out + "/lab.ssh", host, "hostname; echo $SSH_CONNECTION")
            #expect(run.status == 0 && run.stdout.hasPrefix(node + "\n"), "ssh -F lab.ssh \(host) hostname: \(run.stdout) \(run.stderr)")
            let behindFrontend = node != "frontend001"
            #expect(frontendAddresses.contains(client(run.stdout)) == behindFrontend,
                    "\(host) was reached from \(client(run.stdout)) (frontend: \(frontendAddresses))")
        }

        // slurm.conf: what the frontend holds, read by the system ssh, against cloudc's export to a
        // file, to stdout in-process, and to the stdout of the built binary.
        let deployed = try await ssh(out + "/lab.ssh", "lab", "cat /etc/slurm/slurm.conf")
        #expect(deployed.status == 0 && deployed.stdout.contains("ClusterName=lab"), "\(deployed.stderr)")
        let conf = Array(deployed.stdout.utf8)
        let toFile = await user.cloudc("export", "lab", "--format", "slurm.conf", "-o", out + "/slurm.conf")
        #expect(toFile.status == 0, "\(toFile.stderr)")
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: out + "/slurm.conf"))) == conf)
        let printed = await user.cloudc("export", "lab", "-f", "slurm.conf")
        #expect(printed.status == 0 && Array(printed.stdout.utf8) == conf, "\(printed.stderr)")
        let binary = Paths.repoRoot + "/.build/debug/cloudc"
        let byBinary = try await Run.programOffPool(binary, ["export", "lab", "-f", "slurm.conf"], environment: user.environment)
        #expect(byBinary.status == 0 && Array(byBinary.stdout.utf8) == conf, "\(byBinary.stderr)")

        // Ansible: the inventory parses into the node groups, and a command runs on every node.
        let inventory = await user.cloudc("export", "lab", "-f", "ansible-inventory", "-o", out + "/hosts.ini")
        #expect(inventory.status == 0, "\(inventory.stderr)")
        let listed = try Ansible.list(out + "/hosts.ini", home: user.home.path)
        func hosts(_ group: String) -> [String] { (listed[group] as? [String: Any])?["hosts"] as? [String] ?? [] }
        #expect(hosts("frontend") == ["frontend001"] && hosts("compute") == ["compute001", "compute002"] && hosts("gpu") == ["gpu001"])
        #expect(Set((listed["lab"] as? [String: Any])?["children"] as? [String] ?? []) == ["frontend", "compute", "gpu"])
        let ran = try await Run.programOffPool(try Ansible.program("ansible"),
                                               ["-i", out + "/hosts.ini", "lab", "-m", "raw", "-a", "echo $(hostname) from ${SSH_CONNECTION%% *}", "-o"],
                                               environment: Ansible.environment(home: user.home.path))
        #expect(ran.status == 0, "ansible: \(ran.stdout) \(ran.stderr)")
        for node in ["frontend001", "compute001", "compute002", "gpu001"] {
            let line = ran.stdout.split(separator: "\n").first { $0.hasPrefix("\(node) | CHANGED | rc=0 | (stdout) \(node) from ") } ?? ""
            #expect(!line.isEmpty, "ansible on \(node): \(ran.stdout)")
            // Through the frontend (the inventory's ProxyCommand) for every node behind it.
            // (-o writes the output's line ends as `\n`; the address is the digits and dots after "from ".)
            let from = String((line.components(separatedBy: " from ").last ?? "").prefix { $0.isNumber || $0 == "." })
            #expect(frontendAddresses.contains(from) == (node != "frontend001"), "ansible reached \(node) from \(from)")
        }

        // ClusterJob logs in as User@Host of its block and submits to the Alloc partition.
        let cj = await user.cloudc("export", "lab", "-f", "clusterjob")
        #expect(cj.stdout == "[lab]\nHost\tlab\nUser\troot\nBqs\tSLURM\nAlloc\t-p compute\nRepo\t/home/root/CJRepo_Remote\n[lab]\n")
        let account = try await ssh(out + "/lab.ssh", "root@lab", "sinfo -h -N -p compute -o %N")
        #expect(account.status == 0 && account.stdout == "compute001\ncompute002\n", "\(account.stdout) \(account.stderr)")

        // JSON: the whole cluster (the default format).
        let json = await user.cloudc("export", "lab")
        let description = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(description?["frontend"] as? String == "frontend001")
        #expect((description?["nodes"] as? [[String: Any]])?.count == 4)

        // ssh-config --install: its own file, and one line on top of the user's config, once.
        let before = "# the user's own\nHost *\n    ServerAliveInterval 30\n"
        let config = try user.home.write(".ssh/config", before)
        let install = await user.cloudc("ssh-config", "lab", "--install")
        #expect(install.status == 0, "\(install.stderr)")
        let installed = try String(contentsOfFile: config, encoding: .utf8)
        #expect(installed == "Include ~/.ssh/cloudc-lab.config\n" + before)
        #expect(await user.cloudc("ssh-config", "lab", "--install").status == 0)
        #expect(try String(contentsOfFile: config, encoding: .utf8) == installed)
        let viaInstalled = try await ssh(user.home.path + "/.ssh/cloudc-lab.config", "lab-compute002", "hostname")
        #expect(viaInstalled.stdout == "compute002\n", "\(viaInstalled.stderr)")
        return before
    }

    /// The bridges the state records for cluster lab (the provider's own names).
    func recordedBridges(_ user: UserMachine) throws -> [String] {
        let state = try StateStore(home: user.home.path + "/.cloudc").load("lab")
        return (state?.resources ?? []).filter { $0.kind == .bridge }.map(\.name)
    }

    func expectNothingLeft(root: String, user: UserMachine, bridges: [String]) throws {
        let links = try Run.program("/sbin/ip", ["-o", "link"]).stdout
        for bridge in bridges { #expect(!links.contains(" \(bridge):"), "bridge \(bridge) left") }
        let mounts = try #require(ProcFile.text("/proc/mounts"))
        #expect(!mounts.contains(root), "mounts left under \(root)")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        #expect(left.isEmpty, "left in \(root): \(left)")
        let processes = try Run.program("/bin/ps", ["-eo", "args"]).stdout
        #expect(!processes.split(separator: "\n").contains { $0.contains("systemd-nspawn") && $0.contains(root) })
        #expect(user.stateFiles().isEmpty)
        let clusters = (try? FileManager.default.contentsOfDirectory(atPath: user.stateDirectory)) ?? []
        #expect(!clusters.contains { $0.hasPrefix("lab.") }, "cluster files left: \(clusters)")
    }
}

@Suite struct ResizeArgumentTests {
    @Test func signedCountsAreCountsNotOptions() async throws {
        let root = try TemporaryDirectory("cloudc-local")
        let user = try UserMachine(moto: nil, config: LocalClusterTests.config(root: root.path))
        for words in [["-1", "compute"], ["+4", "gpu"], ["lab", "-2", "compute"]] {
            let result = await user.cloudc(["resize"] + words)
            // Parsed: it gets as far as looking for the cluster.
            #expect(result.status == 1, "\(words): \(result.stderr)")
            #expect(result.stderr.contains("no cluster"), "\(words): \(result.stderr)")
        }
        for words in [["4", "gpu"], ["+x", "gpu"], ["+0", "gpu"], ["gpu"], ["a", "b", "+1", "gpu"]] {
            let result = await user.cloudc(["resize"] + words)
            #expect(result.status == 2, "\(words): \(result.stderr)")
            #expect(result.stderr.contains("+N|-N GROUP"), "\(words): \(result.stderr)")
        }
    }
}

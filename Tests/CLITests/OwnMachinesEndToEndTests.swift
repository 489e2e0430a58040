import Foundation
import Testing
import TestSupport

/// `cloudc start ssh` on four machines a researcher already has (`scripts/cloud-peer.sh start ssh`:
/// stock Debian 12 machines with their own root filesystems and hostnames lab-a … lab-d, a
/// non-root login with sudo, lab-d's sshd on port 2222), typed into bash as a user would: the
/// checks refuse a machine without sudo and change nothing; then SLURM ready, a grid on both
/// compute machines, a resize onto the spare machine and back with a job running, a second
/// setup that changes nothing, another cluster refused the machines in use, and a stop that
/// leaves the machines as they were, their packages removed with --purge.
@Suite(.serialized, .needsRoot) struct OwnMachinesEndToEndTests {
    struct View: Decodable {
        struct Host: Decodable {
            var hostname: String
            var daemons: [String]
            var enabled: [String: String]
            var cloudc_paths: [String]
            var baseline_ok: [String: Bool]
        }
        var hosts: [String: Host]
    }

    struct Peer {
        let desk: Desk
        let directory: String
        let holder: Desk

        func type(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Run {
            let run = try await desk.paste(line)
            #expect(run.status == 0, "`\(line)`: \(run.stderr.suffix(4000))", sourceLocation: sourceLocation)
            return run
        }

        /// The machines as they are, seen from inside each (`Tests/peers/peer_view.py ssh`), not through cloudc.
        func view() async throws -> View {
            let got = try await Run.programOffPool("/usr/bin/env", ["python3", Paths.peers + "/peer_view.py", "ssh", directory])
            guard got.status == 0 else { throw PeerError("peer_view.py ssh failed: \(got.stderr)") }
            return try JSONDecoder().decode(View.self, from: Data(got.stdout.utf8))
        }

        /// A machine's address, as the peer made it.
        func address(_ host: String) throws -> String? {
            let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/hosts.json"))
            let hosts = try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]]
            return hosts?[host]?["address"] as? String
        }

        /// A file of a machine's root, from this machine (the peer's nodes are its containers).
        func rootPath(_ host: String, _ path: String) throws -> String {
            let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/hosts.json"))
            let hosts = try #require(try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]])
            let folder = try #require(hosts[host]?["folder"] as? String)
            return folder + "/root" + path
        }

        func until(_ what: String, timeout: Double = 180, _ command: String, _ done: (String) -> Bool) async throws -> String {
            let start = Date()
            while true {
                let out = try await desk.paste("cloudc ssh -- \"\(command)\"").stdout
                if done(out) { return out }
                if Date().timeIntervalSince(start) > timeout {
                    throw PeerError("timed out waiting for \(what); last output of `\(command)`: \(out)")
                }
                try await Task.sleep(nanoseconds: 1_000_000_000)
            }
        }
    }

    @Test func ownMachinesToAGridAndBackAsTheyWere() async throws {
        guard geteuid() == 0 else { throw PeerError("needs root: the machines are systemd-nspawn containers") }
        let probe = try Desk()
        let directory = probe.folder.path + "/peer"
        let desk = try Desk(["CLOUDC_HOME": directory, "CLOUD_PEER_PACKAGE_CACHE": "/var/cache/cloudc-peer-packages",
                             "CLOUDC_SHARE": Paths.repoRoot])
        let started = try await desk.paste("bash \(Paths.repoRoot)/scripts/cloud-peer.sh start ssh \(directory)")
        guard started.status == 0 else {
            _ = try? await desk.paste("bash \(Paths.repoRoot)/scripts/cloud-peer.sh stop \(directory)")
            throw PeerError("cloud-peer.sh start ssh failed: \(started.stderr.suffix(3000))")
        }
        let peer = Peer(desk: desk, directory: directory, holder: probe)
        do {
            try await exercise(peer)
        } catch {
            _ = try? await desk.paste("cloudc stop ssh")
            _ = try? await desk.paste("bash \(Paths.repoRoot)/scripts/cloud-peer.sh stop \(directory)")
            throw error
        }
        _ = try await peer.type("bash \(Paths.repoRoot)/scripts/cloud-peer.sh stop \(directory)")
        #expect(!FileManager.default.fileExists(atPath: directory), "the script removes its folder")
        let bridges = try await Run.programOffPool("/usr/bin/env", ["ip", "-o", "link", "show", "type", "bridge"]).stdout
        #expect(!bridges.contains("ccvm-s"), "no bridge of the peer is left: \(bridges)")
    }

    /// The clusters `cloudc list` shows, by name.
    func clusters(_ peer: Peer) async throws -> [String] {
        let list = try await peer.desk.paste("cloudc list")
        return list.stdout.split(separator: "\n").dropFirst().compactMap { $0.split(separator: " ").first.map(String.init) }
    }

    func exercise(_ peer: Peer) async throws {
        // A machine whose user may not sudo without a password: refused, naming it; nothing changes.
        let sudoers = try peer.rootPath("lab-c", "/etc/sudoers.d/90-researcher")
        let kept = sudoers + ".kept"
        try FileManager.default.moveItem(atPath: sudoers, toPath: kept)
        let refused = try await peer.desk.paste("cloudc start ssh")
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("lab-c: user researcher cannot run sudo without a password"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("lab-a:") && !refused.stderr.contains("lab-b:"), "only lab-c is named: \(refused.stderr)")
        #expect(try await clusters(peer).isEmpty, "no cluster was recorded")
        let untouched = try await peer.view()
        #expect(untouched.hosts.values.allSatisfy { $0.cloudc_paths.isEmpty && $0.daemons.isEmpty }, "nothing was changed: \(untouched)")
        try FileManager.default.moveItem(atPath: kept, toPath: sudoers)

        // Through a jump host (lab-a's sshd opens the connections to the others): a dry run checks
        // every machine that way, and a jump host that does not answer fails the checks.
        let config = try String(contentsOfFile: peer.directory + "/config.yaml", encoding: .utf8)
        let labA = try #require(try peer.address("lab-a"))
        _ = try peer.desk.write("jump.yaml", config.replacingOccurrences(
            of: "    provider: ssh\n", with: "    provider: ssh\n    jump: researcher@\(labA)\n"))
        let viaJump = try await peer.type("cloudc start ssh -c jump.yaml --dry-run")
        #expect(viaJump.stdout.contains("Would add 3 node(s)."), "\(viaJump.stdout) \(viaJump.stderr)")
        _ = try peer.desk.write("badjump.yaml", config.replacingOccurrences(
            of: "    provider: ssh\n", with: "    provider: ssh\n    jump: researcher@\(labA):1\n"))
        let badJump = try await peer.desk.paste("cloudc start ssh -c badjump.yaml --dry-run")
        #expect(badJump.status != 0 && badJump.stderr.contains("\(labA):1"), "\(badJump.stderr)")
        #expect(try await clusters(peer).isEmpty, "a dry run records nothing")

        var began = Date()
        let start = try await peer.type("cloudc start ssh")
        print(String(format: "measure: ssh: cloudc start to SLURM ready on own machines (1 + 2): %.1f s", Date().timeIntervalSince(began)))
        #expect(start.stderr.contains("is ready"), "\(start.stderr.suffix(3000))")
        for line in start.stderr.split(separator: "\n") where line.hasPrefix("Setup of") { print("measure: ssh: \(line)") }

        // The machines keep their hostnames and /etc/hosts; SLURM runs where it should.
        var view = try await peer.view()
        for (host, seen) in view.hosts {
            #expect(seen.baseline_ok.values.allSatisfy { $0 }, "\(host) keeps its hostname and /etc/hosts: \(seen.baseline_ok)")
        }
        #expect(Set(view.hosts["lab-a"]?.daemons ?? []) == ["slurmctld", "munged"], "\(view.hosts["lab-a"]?.daemons ?? [])")
        #expect(Set(view.hosts["lab-b"]?.daemons ?? []) == ["slurmd", "munged"])
        #expect(view.hosts["lab-d"]?.daemons == [], "the spare machine is left alone")
        _ = try await peer.until("both compute machines idle", "sinfo -h -N -o '%N %t'") { out in
            out.contains("compute001 idle") && out.contains("compute002 idle")
        }
        #expect(try await peer.type("cloudc ssh -- id -un").stdout == "researcher\n")
        #expect(try await peer.type("cloudc ssh -n compute002 -- hostname").stdout == "lab-c\n")
        _ = try await peer.type("cloudc export -f ssh-config > cluster.ssh")
        #expect(try await peer.type("ssh -F cluster.ssh -o BatchMode=yes ssh-compute001 hostname").stdout == "lab-b\n")

        // The machines are in use: another cluster of the same machines is refused, and recorded nowhere.
        let second = try await peer.desk.paste("cloudc start ssh -n other")
        #expect(second.status != 0 && second.stderr.contains("in use: lab-a (cluster ssh)"), "\(second.stderr)")
        #expect(try await clusters(peer) == ["ssh"])

        // A 2 × 3 grid on both compute machines.
        _ = try peer.desk.write("code/train.sh", CloudEndToEndTests.trainScript)
        _ = try await peer.type("chmod +x code/train.sh")
        let submit = try await peer.type("cloudc submit --dir ./code -- ./train.sh --lr '{0.1,0.2}' --seed '{1,2,3}'")
        let run = submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try await peer.type("cloudc jobs \(run) --wait")
        _ = try await peer.type("cloudc harvest \(run) --collect results.csv")
        let table = try String(contentsOfFile: peer.desk.folder.path + "/" + run + "/results.csv", encoding: .utf8)
        let rows = table.split(separator: "\n").dropFirst()
        #expect(rows.count == 6, "\(table)")
        let hosts = Set(rows.compactMap { $0.split(separator: ",").dropFirst(3).first.map(String.init) })
        #expect(hosts == ["lab-b", "lab-c"], "the tasks ran on \(hosts): \(table)")

        // A job keeps running while the spare machine (sshd on port 2222) joins and leaves.
        let long = try await peer.type("cloudc ssh -- sbatch --parsable -w compute001 --wrap \"'sleep 600'\"")
            .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try await peer.until("the long job to run", "squeue -h -j \(long) -o %T") { $0.contains("RUNNING") }
        began = Date()
        _ = try await peer.type("cloudc resize +1 compute")
        print(String(format: "measure: ssh: cloudc resize +1 compute: %.1f s", Date().timeIntervalSince(began)))
        _ = try await peer.until("compute003 idle", "sinfo -h -N -n compute003 -o %t") { $0.contains("idle") }
        #expect(try await peer.type("cloudc ssh -n compute003 -- hostname").stdout == "lab-d\n")
        let fifth = try await peer.desk.paste("cloudc resize +1 compute")
        #expect(fifth.status != 0 && fifth.stderr.contains("no free machine left in group compute"), "\(fifth.stderr)")
        _ = try await peer.type("cloudc resize -1 compute")
        #expect(try await peer.type("cloudc ssh -- squeue -h -j \(long) -o %T").stdout.contains("RUNNING"),
                "the running job survived both resizes")
        view = try await peer.view()
        let spare = try #require(view.hosts["lab-d"])
        #expect(spare.daemons.isEmpty && spare.cloudc_paths.isEmpty && spare.enabled["slurmd"] != "enabled",
                "the machine that left is as it was, packages aside: \(spare)")
        _ = try await peer.type("cloudc ssh -- scancel \(long)")

        let again = try await peer.type("cloudc setup")
        #expect(again.stderr.contains(" 0 changed"), "a second setup changes nothing: \(again.stderr.suffix(2000))")

        began = Date()
        let stop = try await peer.type("cloudc stop ssh --purge")
        print(String(format: "measure: ssh: cloudc stop --purge: %.1f s", Date().timeIntervalSince(began)))
        #expect(stop.stderr.contains("never powers off"), "\(stop.stderr)")
        view = try await peer.view()
        for (host, seen) in view.hosts {
            #expect(seen.daemons.isEmpty, "\(host): no SLURM or munge daemon left: \(seen.daemons)")
            #expect(seen.cloudc_paths.isEmpty, "\(host): no file of cloudc left: \(seen.cloudc_paths)")
            #expect(seen.baseline_ok.values.allSatisfy { $0 }, "\(host): as it was: \(seen.baseline_ok)")
        }
        for host in ["lab-a", "lab-b", "lab-c"] {
            let dpkg = try await peer.desk.paste("ssh -F \(peer.directory)/ssh_config \(host) 'dpkg -s munge >/dev/null 2>&1 && echo installed || echo absent'")
            #expect(dpkg.stdout == "absent\n", "\(host): --purge removed munge: \(dpkg.stdout) \(dpkg.stderr)")
        }
        #expect(FileManager.default.fileExists(atPath: peer.directory + "/own-machines.json"))
        #expect(try String(contentsOfFile: peer.directory + "/own-machines.json", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: "[]"))).isEmpty,
                "every machine is released")
    }
}

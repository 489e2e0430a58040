import Foundation
import Testing
import TestSupport

/// `cloudc start CLOUD` to a running grid and back, as a user types it into bash, against each local
/// cloud whose instances boot as VM-like nodes (`scripts/cloud-peer.sh`): a stock Debian 12 image
/// with nothing of SLURM on it, the login user made by a guest agent or cloud-init some seconds after
/// sshd answers. Only the frontend has a public address (and a way out, to the package cache that
/// stands for the internet): every other node is reached through it and installs its packages
/// through the frontend's cache.
@Suite(.serialized, .needsRoot) struct CloudEndToEndTests {
    /// The peer's folder, started and stopped with the script users run.
    struct CloudPeer {
        let cloud: String
        let desk: Desk
        let directory: String
        /// Holds the folder the peer's DIR is in (removed when the test ends).
        let holder: Desk

        static func start(_ cloud: String, userDelay: Int) async throws -> CloudPeer {
            let probe = try Desk()
            let directory = probe.folder.path + "/peer"
            let desk = try Desk(["CLOUDC_HOME": directory, "CLOUD_PEER_USER_DELAY": String(userDelay),
                                 "CLOUD_PEER_PACKAGE_CACHE": "/var/cache/cloudc-peer-packages",
                                 "CLOUDC_SHARE": Paths.repoRoot, "CLOUDC_SSH_WAIT": "180"])
            let started = try await desk.paste("bash \(Paths.repoRoot)/scripts/cloud-peer.sh start \(cloud) \(directory)")
            guard started.status == 0 else {
                _ = try? await desk.paste("bash \(Paths.repoRoot)/scripts/cloud-peer.sh stop \(directory)")
                throw PeerError("cloud-peer.sh start \(cloud) failed: \(started.stderr.suffix(3000))")
            }
            return CloudPeer(cloud: cloud, desk: desk, directory: directory, holder: probe)
        }

        func stop() async {
            _ = try? await desk.paste("bash \(Paths.repoRoot)/scripts/cloud-peer.sh stop \(directory)")
        }

        func type(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Run {
            let run = try await desk.paste(line)
            #expect(run.status == 0, "`\(line)`: \(run.stderr.suffix(4000))", sourceLocation: sourceLocation)
            return run
        }

        /// Polls `cloudc ssh -- command` until its output satisfies `done`.
        func until(_ what: String, timeout: Double = 180, _ command: String, _ done: (String) -> Bool) async throws -> String {
            let start = Date()
            while true {
                let out = try await desk.paste("cloudc ssh -- \"\(command)\"").stdout
                if done(out) { return out }
                if Date().timeIntervalSince(start) > timeout {
                    throw PeerError("timed out waiting for \(what); last output of `\(command)`: \(out)")
                }
                try await Task.sleep(nanoseconds: 2_000_000_000)
            }
        }

        /// Adds `user` with the login's key to the ssh-keys metadata of the instance whose name
        /// contains `node`, through instances.setMetadata (a token of the peer's service account,
        /// got without cloudc), as a user would with `gcloud compute instances add-metadata`.
        func addSSHUser(_ user: String, on node: String) async throws {
            let script = """
                import json, subprocess, sys, urllib.parse, urllib.request
                d, peers, user, node = sys.argv[1:5]
                port = open(d + "/peer.port").read().strip()
                base = "http://127.0.0.1:%s" % port
                jwt = subprocess.run(["python3", peers + "/gce_credentials.py", "jwt", d + "/credentials/service-account.json",
                                      "--scope", "https://www.googleapis.com/auth/compute",
                                      "--aud", "https://oauth2.googleapis.com/token"], capture_output=True, text=True, check=True).stdout.strip()
                form = urllib.parse.urlencode({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": jwt}).encode()
                token = json.load(urllib.request.urlopen(base + "/token", form))["access_token"]
                def call(method, path, body=None):
                    request = urllib.request.Request(base + "/compute/v1/projects/cloudc-peer/zones/us-central1-a/" + path,
                        data=None if body is None else json.dumps(body).encode(), method=method,
                        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
                    return json.load(urllib.request.urlopen(request))
                names = [i["name"] for i in call("GET", "instances")["items"] if node in i["name"]]
                instance = call("GET", "instances/" + names[0])
                metadata = instance["metadata"]
                items = metadata.get("items", [])
                key = open(d + "/id_ed25519.pub").read().strip()
                for item in items:
                    if item["key"] == "ssh-keys":
                        item["value"] += "\\n%s:%s" % (user, key)
                call("POST", "instances/%s/setMetadata" % names[0], {"items": items, "fingerprint": metadata["fingerprint"]})
                """
            try script.write(toFile: directory + "/add-user.py", atomically: true, encoding: .utf8)
            _ = try await type("python3 \(directory)/add-user.py \(directory) \(Paths.peers) \(user) \(node)")
        }

        /// What the peer holds, in its own words (`Tests/peers/peer_view.py`), independent of cloudc.
        func view() async throws -> PeerView {
            let got = try await Run.programOffPool("/usr/bin/env", ["python3", Paths.peers + "/peer_view.py", cloud, directory])
            guard got.status == 0 else { throw PeerError("peer_view.py \(cloud) failed: \(got.stderr)") }
            return try JSONDecoder().decode(PeerView.self, from: Data(got.stdout.utf8))
        }

        /// Bytes the package cache on this machine (the nodes' only "internet") has served so far.
        func packageBytesServed() throws -> Int {
            let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/package-cache.json"))
            let stats = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            return stats?["served_bytes"] as? Int ?? 0
        }

        /// The peer's own view (`GET /_peer/state`), independent of cloudc.
        func state() async throws -> [String: Any] {
            let port = try String(contentsOfFile: directory + "/peer.port", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let got = try await Run.programOffPool("/usr/bin/env", ["curl", "-sf", "http://127.0.0.1:\(port)/_peer/state"])
            return try #require(try JSONSerialization.jsonObject(with: Data(got.stdout.utf8)) as? [String: Any])
        }
    }

    struct PeerView: Decodable {
        struct Node: Decodable {
            var group: String?
            var `public`: String?
            var status: String
        }
        var nodes: [String: Node]
        var left: [String: [String]]
    }

    static let trainScript = """
        #!/bin/sh
        # train.sh --lr LR --seed SEED: one row of results, and where it ran.
        lr=$2; seed=$4
        sleep 2
        printf 'host,score\\n%s,%s\\n' "$(hostname)" "$(echo "$lr * $seed" | awk '{print $1 * $3}')" > results.csv
        """

    /// Each cloud with the login user appearing 5 s after sshd answers (the default); GCE also 20 s after.
    @Test(arguments: zip(["gce", "ec2", "openstack", "gce"], [5, 5, 5, 20]))
    func startToAGridResizeAndStopOnNodesThatBootLikeVMs(cloud: String, userDelay: Int) async throws {
        guard geteuid() == 0 else { throw PeerError("needs root: the peer's nodes are systemd-nspawn machines") }
        print("measure: \(cloud), user delay \(userDelay) s")
        let peer = try await CloudPeer.start(cloud, userDelay: userDelay)
        do {
            try await exercise(peer, userDelay: userDelay)
        } catch {
            _ = try? await peer.desk.paste("cloudc stop \(cloud)")
            await peer.stop()
            throw error
        }
        await peer.stop()
        #expect(!FileManager.default.fileExists(atPath: peer.directory), "the script removes its folder")
        let bridges = try await Run.programOffPool("/usr/bin/env", ["ip", "-o", "link", "show", "type", "bridge"]).stdout
        #expect(!bridges.contains("ccvm-"), "no bridge of the peer is left: \(bridges)")
    }

    func exercise(_ peer: CloudPeer, userDelay: Int) async throws {
        let cloud = peer.cloud
        let user = cloud == "openstack" ? "debian" : "admin"
        let workers = cloud == "gce" ? ["compute001", "compute002", "gpu001"] : ["compute001", "compute002"]
        var began = Date()
        let start = try await peer.type("cloudc start \(cloud)")
        print(String(format: "measure: \(cloud): cloudc start to SLURM ready: %.1f s", Date().timeIntervalSince(began)))
        #expect(start.stderr.contains("is ready"), "\(start.stderr.suffix(3000))")
        for line in start.stderr.split(separator: "\n") where line.hasPrefix("Setup of") { print("measure: \(cloud): \(line)") }
        #expect(start.stderr.contains("install munge"), "munge came through the package caches: \(start.stderr.suffix(3000))")
        let servedAtStart = try peer.packageBytesServed()
        print("measure: \(cloud): bytes of packages from outside for 1 + \(workers.count) nodes: \(servedAtStart)")

        // Only the frontend has a public address, in the cloud's own view.
        let view = try await peer.view()
        #expect(Set(view.nodes.keys) == Set(["frontend001"] + workers), "\(view.nodes)")
        for (node, seen) in view.nodes {
            #expect((seen.public != nil) == (node == "frontend001"), "\(node): public address \(seen.public ?? "none")")
        }

        // Every node idle in SLURM; GCE's GPU node with its GPU.
        let idle = try await peer.until("every node idle", "sinfo -h -N -o '%N %t %G'") { out in
            workers.allSatisfy { out.contains("\($0) idle") }
        }
        if cloud == "gce" { #expect(idle.contains("gpu001 idle gpu:1"), "\(idle)") }
        #expect(try await peer.type("cloudc ssh -- id -un").stdout.trimmingCharacters(in: .whitespacesAndNewlines) == user)
        // A node behind the frontend, with the system ssh through it (cloudc ssh -n), and with the exported config.
        #expect(try await peer.type("cloudc ssh -n compute002 -- hostname").stdout == "compute002\n")
        _ = try await peer.type("cloudc export -f ssh-config > cluster.ssh")
        #expect(try await peer.type("ssh -F cluster.ssh -o BatchMode=yes \(cloud)-compute001 hostname").stdout == "compute001\n")

        // A 2 × 3 grid as one job array on both compute nodes.
        _ = try peer.desk.write("code/train.sh", Self.trainScript)
        _ = try await peer.type("chmod +x code/train.sh")
        let submit = try await peer.type("cloudc submit --dir ./code --partition compute -- ./train.sh --lr '{0.1,0.2}' --seed '{1,2,3}'")
        let run = submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(submit.stderr.contains("Submitted 6 task(s)"), "\(submit.stderr)")
        _ = try await peer.type("cloudc jobs \(run) --wait")
        let harvest = try await peer.type("cloudc harvest \(run) --collect results.csv")
        let table = try String(contentsOfFile: peer.desk.folder.path + "/" + run + "/results.csv", encoding: .utf8)
        let rows = table.split(separator: "\n").dropFirst()
        #expect(rows.count == 6, "\(table) \(harvest.stderr)")
        let hosts = Set(rows.compactMap { $0.split(separator: ",").dropFirst(3).first.map(String.init) })
        #expect(hosts == ["compute001", "compute002"], "the tasks ran on \(hosts): \(table)")

        if cloud == "gce" {
            // Keys added to a running VM's metadata: its guest agent makes that user too.
            try await peer.addSSHUser("second", on: "frontend001")
            _ = try await peer.until("the second user on the frontend", timeout: 60, "id -u second") { !$0.isEmpty }
        }

        // A job keeps running while a node joins and another leaves.
        let long = try await peer.type("cloudc ssh -- sbatch --parsable -p compute -w compute001 --wrap \"'sleep 600'\"")
            .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try await peer.until("the long job to run", "squeue -h -j \(long) -o %T") { $0.contains("RUNNING") }
        began = Date()
        _ = try await peer.type("cloudc resize +1 compute")
        print(String(format: "measure: \(cloud): cloudc resize +1 compute: %.1f s", Date().timeIntervalSince(began)))
        _ = try await peer.until("compute003 idle", "sinfo -h -N -n compute003 -o %t") { $0.contains("idle") }
        let servedAfterResize = try peer.packageBytesServed()
        print("measure: \(cloud): bytes of packages from outside for 1 + \(workers.count + 1) nodes: \(servedAfterResize) "
              + "(the node that joined: \(servedAfterResize - servedAtStart))")
        #expect(try await peer.view().nodes["compute003"]?.public == nil, "a node that joins has no public address either")
        #expect(try await peer.type("cloudc ssh -- squeue -h -j \(long) -o %T").stdout.contains("RUNNING"))
        _ = try await peer.type("cloudc resize -1 compute")
        #expect(try await peer.type("cloudc ssh -- squeue -h -j \(long) -o %T").stdout.contains("RUNNING"),
                "the running job survived both resizes")
        _ = try await peer.type("cloudc ssh -- scancel \(long)")

        let again = try await peer.type("cloudc setup")
        #expect(again.stderr.contains(" 0 changed"), "a second setup changes nothing: \(again.stderr.suffix(2000))")

        if userDelay == 5 {
            // Autostop: idle (no job, nobody logged in) for a minute, the cluster powers itself off,
            // and the cloud says so (GCE TERMINATED, OpenStack SHUTOFF, EC2 terminated, as its
            // nodes are launched with InstanceInitiatedShutdownBehavior terminate). Only
            // `cloudc list` (API calls, no SSH) watches.
            let set = try await peer.type("cloudc autostop 1m")
            #expect(set.stderr.contains("powers itself off after 1m idle"), "\(set.stderr.suffix(2000))")
            began = Date()
            let deadline = began.addingTimeInterval(330)
            var listed = ""
            while Date() < deadline {
                listed = try await peer.desk.paste("cloudc list").stdout
                if listed.contains("off (autostop)") { break }
                try await Task.sleep(nanoseconds: 5_000_000_000)
            }
            #expect(listed.contains("off (autostop)"), "\(cloud): not off \(Int(Date().timeIntervalSince(began))) s after autostop 1m: \(listed)")
            print(String(format: "measure: \(cloud): autostop 1m: every node off %.0f s after it was set", Date().timeIntervalSince(began)))
            let statuses = try await peer.view().nodes.mapValues(\.status)
            print("measure: \(cloud): the cloud's view of the nodes after autostop: \(statuses.sorted { $0.key < $1.key })")
        } else if cloud == "gce" {
            // A VM powered off from inside is TERMINATED in the API, as on GCE; stop removes it all the same.
            _ = try await peer.desk.paste("cloudc ssh -n compute002 -- sudo systemctl poweroff")
            let deadline = Date().addingTimeInterval(90)
            var status = ""
            while Date() < deadline {
                status = try await peer.view().nodes["compute002"]?.status ?? "gone"
                if status == "TERMINATED" { break }
                try await Task.sleep(nanoseconds: 1_000_000_000)
            }
            #expect(status == "TERMINATED", "a node powered off inside shows as \(status)")
        }

        began = Date()
        _ = try await peer.type("cloudc stop \(cloud)")
        print(String(format: "measure: \(cloud): cloudc stop: %.1f s", Date().timeIntervalSince(began)))
        let after = try await peer.view()
        for (kind, names) in after.left {
            #expect(names.isEmpty, "\(cloud): \(kind) left after stop: \(names)")
        }
    }
}

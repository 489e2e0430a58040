import CloudcCLI
import Foundation
import Testing
import TestSupport

/// `cloudc start` and `cloudc stop` on provider local, in-process, as a user runs them.
@Suite(.serialized, .needsRoot)
struct LocalCLITests {
    /// A user's home with a config for cluster `box` on a local cloud under `root`, and cloudc
    /// run in-process in it.
    struct Desk {
        let home: TemporaryDirectory
        let root: TemporaryDirectory
        let key: String
        let environment: [String: String]

        init() throws {
            home = try TemporaryDirectory("cloudc-local-home")
            root = try TemporaryDirectory("cloudc-local-root")
            key = try makeSSHKey(in: home.path)
            _ = try home.write(".cloudc/config.yaml", """
                clouds:
                  here: {provider: local, root: \(root.path)}
                logins:
                  default: {user: root, private_key: \(key)}
                clusters:
                  box:
                    cloud: here
                    groups:
                      frontend: {count: 1}
                      compute: {count: 1}
                """)
            // No ssh_from: a local cluster must not look up this machine's public address (nothing answers here).
            environment = ["HOME": home.path, "CLOUDC_HOME": home.path + "/.cloudc", "CLOUDC_POLL_SECONDS": "0.2",
                           "CLOUDC_CHECKIP_URL": "http://127.0.0.1:9/",
                           "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"]
        }

        func cloudc(_ arguments: String...) async -> (status: Int32, stdout: String, stderr: String) { await cloudc(arguments) }

        func cloudc(_ arguments: [String]) async -> (status: Int32, stdout: String, stderr: String) {
            let out = OutputCapture(), err = OutputCapture()
            let context = CLIContext(environment: environment, homeDirectory: home.path,
                                     output: { out.append($0) }, errorOutput: { err.append($0) })
            let status = await CloudcMain.run(arguments: arguments, context: context)
            return (status, out.text, err.text)
        }
    }

    @Test func startListStopThroughTheCommandLine() async throws {
        try requireRoot()
        let desk = try Desk()
        let root = desk.root, key = desk.key
        let start = await desk.cloudc("start", "box", "--no-setup")
        #expect(start.status == 0, "start failed: \(start.stderr)")
        #expect(!start.stderr.contains("Finding your public address"))
        let nodes = await desk.cloudc("list-nodes", "--json")
        let rows = try JSONSerialization.jsonObject(with: Data(nodes.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(rows.compactMap { $0["name"] as? String }.sorted() == ["compute001", "frontend001"])
        let probe = SSHProbe(privateKey: key, user: "root")
        for row in rows {
            #expect(row["state"] as? String == "running")
            let ip = try #require(row["private_ip"] as? String)
            #expect(try await probe.waitForSSH(ip) == row["name"] as? String)
        }

        let stop = await desk.cloudc("stop", "box")
        #expect(stop.status == 0, "stop failed: \(stop.stderr)")
        #expect(HostView.entries(root.path).isEmpty, "left under the root: \(HostView.entries(root.path))")
        #expect(HostView.mounts(under: root.path).isEmpty)
        #expect(HostView.nspawnProcesses(under: root.path).isEmpty)
        if start.status != 0 || stop.status != 0 {
            // Leave nothing behind even when the commands failed.
            _ = await desk.cloudc("stop", "box")
        }
    }

    /// The state file deleted behind cloudc's back: `stop --force` finds the nodes and the
    /// cluster's folder by their names on this machine, and removes them with the bridge.
    @Test func aLocalClusterWithoutStateIsStoppedByItsNames() async throws {
        try requireRoot()
        let desk = try Desk()
        let start = await desk.cloudc(["start", "box", "--no-setup"])
        #expect(start.status == 0, "start failed: \(start.stderr)")
        try FileManager.default.removeItem(atPath: desk.home.path + "/.cloudc/clusters/box.json")
        let asked = await desk.cloudc(["stop", "box"])
        #expect(asked.status == 2 && asked.stdout.split(separator: "\n").filter { $0.hasPrefix("  instance ") }.count == 2, "\(asked.stdout) \(asked.stderr)")
        #expect(asked.stdout.contains("  bridge cc-") && asked.stdout.contains("  shared-directory \(desk.root.path)/box-"), "\(asked.stdout)")
        #expect(HostView.nspawnProcesses(under: desk.root.path).count == 2, "nothing was stopped without --force")
        #expect(try HostView.links().contains { $0.contains(" \(try #require(asked.stdout.split(separator: "\n").first { $0.hasPrefix("  bridge cc-") }?.split(separator: " ").last)):") })
        let forced = await desk.cloudc(["stop", "box", "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(HostView.entries(desk.root.path).isEmpty, "left under the root: \(HostView.entries(desk.root.path))")
        #expect(HostView.nspawnProcesses(under: desk.root.path).isEmpty)
        // The bridge the listing named, which was there, is gone.
        let bridge = try #require(asked.stdout.split(separator: "\n").first { $0.hasPrefix("  bridge cc-") }?.split(separator: " ").last.map(String.init))
        #expect(!(try HostView.links()).contains { $0.contains(" \(bridge):") })
    }

    /// A node the state forgot (its record dropped from the state file) still runs on this
    /// machine: `doctor` finds it by its tags, `--fix` powers it off and removes it.
    @Test func doctorFindsAndRemovesANodeTheStateForgot() async throws {
        try requireRoot()
        let desk = try Desk()
        #expect(await desk.cloudc(["start", "box", "--no-setup"]).status == 0)
        let file = desk.home.path + "/.cloudc/clusters/box.json"
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
        let nodes = json["nodes"] as? [[String: Any]] ?? []
        let forgotten = try #require(nodes.first { $0["name"] as? String == "compute001" }?["instanceID"] as? String)
        json["nodes"] = nodes.filter { $0["name"] as? String != "compute001" }
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: file))

        let sick = await desk.cloudc(["doctor", "box"])
        #expect(sick.status == 1 && sick.stdout.contains("✗ forgotten-instance \(forgotten)"), "\(sick.stdout) \(sick.stderr)")
        let fixed = await desk.cloudc(["doctor", "box", "--fix"])
        #expect(fixed.status == 0, "\(fixed.stdout) \(fixed.stderr)")
        #expect(HostView.nspawnProcesses(under: desk.root.path).count == 1, "the forgotten node was powered off")
        #expect(await desk.cloudc(["doctor", "box"]).status == 0)
        #expect(await desk.cloudc(["stop", "box"]).status == 0)
        #expect(HostView.entries(desk.root.path).isEmpty, "left under the root: \(HostView.entries(desk.root.path))")
    }
}

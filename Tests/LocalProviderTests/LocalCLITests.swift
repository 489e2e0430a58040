import CloudcCLI
import Foundation
import Testing
import TestSupport

/// `cloudc start` and `cloudc stop` on provider local, in-process, as a user runs them.
@Suite(.serialized, .needsRoot)
struct LocalCLITests {
    @Test func startListStopThroughTheCommandLine() async throws {
        try requireRoot()
        let home = try TemporaryDirectory("cloudc-local-home")
        let root = try TemporaryDirectory("cloudc-local-root")
        let key = try makeSSHKey(in: home.path)
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
        let environment = ["HOME": home.path, "CLOUDC_HOME": home.path + "/.cloudc", "CLOUDC_POLL_SECONDS": "0.2",
                           "CLOUDC_CHECKIP_URL": "http://127.0.0.1:9/",
                           "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"]
        func cloudc(_ arguments: String...) async -> (status: Int32, stdout: String, stderr: String) {
            let out = OutputCapture(), err = OutputCapture()
            let context = CLIContext(environment: environment, homeDirectory: home.path,
                                     output: { out.append($0) }, errorOutput: { err.append($0) })
            let status = await CloudcMain.run(arguments: arguments, context: context)
            return (status, out.text, err.text)
        }

        let start = await cloudc("start", "box", "--no-setup")
        #expect(start.status == 0, "start failed: \(start.stderr)")
        #expect(!start.stderr.contains("Finding your public address"))
        let nodes = await cloudc("list-nodes", "--json")
        let rows = try JSONSerialization.jsonObject(with: Data(nodes.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(rows.compactMap { $0["name"] as? String }.sorted() == ["compute001", "frontend001"])
        let probe = SSHProbe(privateKey: key, user: "root")
        for row in rows {
            #expect(row["state"] as? String == "running")
            let ip = try #require(row["private_ip"] as? String)
            #expect(try await probe.waitForSSH(ip) == row["name"] as? String)
        }

        let stop = await cloudc("stop", "box")
        #expect(stop.status == 0, "stop failed: \(stop.stderr)")
        #expect(HostView.entries(root.path).isEmpty, "left under the root: \(HostView.entries(root.path))")
        #expect(HostView.mounts(under: root.path).isEmpty)
        #expect(HostView.nspawnProcesses(under: root.path).isEmpty)
        if start.status != 0 || stop.status != 0 {
            // Leave nothing behind even when the commands failed.
            _ = await cloudc("stop", "box")
        }
    }
}

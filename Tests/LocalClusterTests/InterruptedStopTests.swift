import CLITestSupport
import CloudcCore
import Foundation
import State
import Testing
import TestSupport

/// `cloudc stop` killed with SIGKILL at each point of its work, then run again: the second stop
/// finishes the job and leaves no container, mount, node folder, bridge, home, cluster file or
/// state. Needs root (as in CI).
@Suite(.serialized, .needsRoot) struct InterruptedStopTests {
    struct KillPoint: Sendable, CustomTestStringConvertible {
        var testDescription: String
        /// The progress line of the first stop to kill it at; nil: `delay` after it began.
        var line: String?
        var delay: Double
        /// The first stop cannot have finished by then, so something must be left for the second.
        var leavesWork: Bool
        /// Kill it at this `Failpoint` instead (a moment no outside timing hits).
        var failpoint: String? = nil
    }

    /// Kills at progress lines and at moments after the start (what they leave depends on the
    /// machine's load, so they only check the cleanup), and at failpoints, which always leave work.
    static let points: [KillPoint] = [
        KillPoint(testDescription: "0.2 s after stop began", line: nil, delay: 0.2, leavesWork: false),
        KillPoint(testDescription: "0.3 s after stop began", line: nil, delay: 0.3, leavesWork: false),
        KillPoint(testDescription: "as terminate begins", line: "Terminating 4 instance(s)", delay: 0, leavesWork: false),
        KillPoint(testDescription: "during terminate, the nodes told to power off", line: nil, delay: 30, leavesWork: true,
                  failpoint: "local.after-sigterm"),
        KillPoint(testDescription: "while the nodes power off", line: "Terminating 4 instance(s)", delay: 0.3, leavesWork: false),
        KillPoint(testDescription: "between node removal and network removal", line: nil, delay: 30, leavesWork: true,
                  failpoint: "stop.after-terminate"),
        KillPoint(testDescription: "between the home folder and the bridge", line: nil, delay: 30, leavesWork: true,
                  failpoint: "stop.after-delete.shared-directory"),
        KillPoint(testDescription: "after the cloud calls, before the state is removed", line: nil, delay: 30, leavesWork: true,
                  failpoint: "stop.before-forgetting"),
    ]

    @Test(arguments: points)
    func aKilledStopIsFinishedByTheNext(_ point: KillPoint) async throws {
        try LocalClusterTests.requireRoot()
        let root = try TemporaryDirectory("cloudc-local")
        let user = try UserMachine(moto: nil, config: LocalClusterTests.config(root: root.path, template: "lab", groups: """
            frontend: {count: 1}
            compute: {count: 3}
            """), extraEnvironment: ["CLOUDC_SHARE": Paths.repoRoot])
        let start = await user.cloudc("start", "lab", "--no-setup")
        guard start.status == 0 else {
            _ = await user.cloudc("stop", "lab")
            Issue.record("start failed: \(start.stderr)")
            return
        }
        let state = try #require(try StateStore(home: user.home.path + "/.cloudc").load("lab"))
        let bridges = state.resources.filter { $0.kind == .bridge }.map(\.name)
        // An installed SSH config is the cluster's too: the stop that finishes must take it out.
        let sshConfig = try user.home.write(".ssh/config", "Host *\n    ServerAliveInterval 30\n")
        let install = await user.cloudc("ssh-config", "lab", "--install")
        #expect(install.status == 0, "\(install.stderr)")

        let killed = try await user.runCloudcKilled(["stop", "lab"], atLine: point.line, delay: point.delay,
                                                    environment: point.failpoint.map { ["CLOUDC_FAILPOINT": $0] } ?? [:])
        if point.failpoint != nil {
            #expect(!killed.stderr.contains("Cluster lab is gone"), "the failpoint was not hit: \(killed.stderr)")
        }
        if point.line != nil {
            #expect(killed.sawLine, "the first stop never printed '\(point.line ?? "")': \(killed.stderr)")
        }
        let left = HostView.leftovers(root: root.path, bridges: bridges) + user.stateFiles()
        print("killed \(point.testDescription): left for the second stop: \(left.count) thing(s) \(left.prefix(6))")
        if point.leavesWork {
            #expect(!left.isEmpty, "the kill came too late to leave anything: \(killed.stderr)")
        }

        let again = await user.cloudc("stop", "lab")
        // A kill after the state file went leaves no cluster to stop; anything else is finished now.
        #expect(again.status == 0 || (again.stderr.contains("no cluster named") && user.stateFiles().isEmpty), "\(again.stderr)")
        let after = HostView.leftovers(root: root.path, bridges: bridges)
        #expect(after.isEmpty, "left after the second stop: \(after)")
        #expect(user.stateFiles().isEmpty)
        let clusterFiles = HostView.entries(user.stateDirectory).filter { $0.hasPrefix("lab.") }
        #expect(clusterFiles.isEmpty, "cluster files left: \(clusterFiles)")
        #expect(try String(contentsOfFile: sshConfig, encoding: .utf8) == "Host *\n    ServerAliveInterval 30\n")
        #expect(!FileManager.default.fileExists(atPath: user.home.path + "/.ssh/cloudc-lab.config"))
        if !after.isEmpty { _ = await user.cloudc("stop", "lab") }
    }
}

enum HostView {
    static func entries(_ path: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    }

    /// Whether a systemd-nspawn boots the node whose root is `root` (the exact folder).
    static func nspawnRunning(root: String) -> Bool {
        entries("/proc").contains { entry in
            guard Int(entry) != nil, let data = ProcFile.data("/proc/\(entry)/cmdline") else { return false }
            let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return words.first?.hasSuffix("systemd-nspawn") == true && words.contains("--directory=" + root)
        }
    }

    /// Everything a local cluster under `root` can leave on this machine: files and folders,
    /// mounts, systemd-nspawn processes, the bridges.
    static func leftovers(root: String, bridges: [String]) -> [String] {
        var left: [String] = []
        if let walker = FileManager.default.enumerator(atPath: root) {
            var count = 0
            while let entry = walker.nextObject() as? String, count < 20 { left.append("file \(entry)"); count += 1 }
        }
        let mounts = (ProcFile.text("/proc/mounts") ?? "").split(separator: "\n").filter { $0.contains(root) }
        left += mounts.map { "mount \($0.split(separator: " ").dropFirst().first ?? "")" }
        for entry in entries("/proc") where Int(entry) != nil {
            guard let data = ProcFile.data("/proc/\(entry)/cmdline") else { continue }
            let line = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
            if line.contains("systemd-nspawn"), line.contains(root) { left.append("process \(entry)") }
        }
        let links = (try? Run.program("/usr/sbin/ip", ["-o", "link"]).stdout) ?? ""
        for bridge in bridges where links.contains(" \(bridge):") { left.append("bridge \(bridge)") }
        return left
    }
}

import CloudcCore
import Foundation
import Testing
import TestSupport

/// The main job with nothing set up: an empty CLOUDC_HOME, no config, no SSH key. `cloudc start
/// local` typed into bash makes the built-in cluster (1 frontend + 2 compute, SLURM), a key for
/// the user, and `cloudc stop` takes it all away. Needs root (as in CI).
@Suite(.serialized, .needsRoot) struct NoConfigTests {
    @Test func startLocalWithNoConfigAtAll() async throws {
        try LocalClusterTests.requireRoot()
        let home = try TemporaryDirectory("cloudc-new-user")
        let binary = Paths.repoRoot + "/.build/debug/cloudc"
        let environment = [
            "HOME": home.path, "CLOUDC_HOME": home.path + "/.cloudc", "CLOUDC_SHARE": Paths.repoRoot, "LANG": "C.UTF-8",
            "PATH": (binary as NSString).deletingLastPathComponent + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
        ]
        func bash(_ line: String) async throws -> Run {
            try await Run.programOffPool("/usr/bin/env", ["-C", home.path, "bash", "-c", line], environment: environment)
        }
        let began = Date()
        let start = try await bash("cloudc start local")
        print(String(format: "timing: cloudc start local with no config %.1f s", Date().timeIntervalSince(began)))
        defer { _ = try? Run.program("/usr/bin/env", ["bash", "-c", "cloudc stop local"], environment: environment) }
        #expect(start.status == 0, "\(start.stderr)")
        #expect(start.stderr.contains("No config file"), "\(start.stderr)")
        #expect(start.stderr.contains("making one for cloudc at \(home.path)/.cloudc/id_ed25519"), "\(start.stderr)")
        #expect(FileManager.default.fileExists(atPath: home.path + "/.cloudc/id_ed25519.pub"))
        #expect(!FileManager.default.fileExists(atPath: home.path + "/.cloudc/config.yaml"), "the built-in config is not written out")

        let sinfo = try await bash("cloudc ssh -- \"sinfo -h -N -o '%N %P'\"")
        let rows = sinfo.stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        #expect(sinfo.status == 0 && rows == ["compute001 compute*", "compute002 compute*"], "\(sinfo.stdout)\(sinfo.stderr)")
        let templates = try await bash("cloudc list-templates")
        #expect(templates.stdout.contains("local     local (local)  1 frontend (container), 2 compute (container)"), "\(templates.stdout)")

        let homeFolder = try #require(start.stderr.split(separator: "\n").first { $0.contains("Creating shared-directory") }
            .map { String($0.split(separator: " ").last ?? "") })
        let stop = try await bash("cloudc stop")
        #expect(stop.status == 0, "\(stop.stderr)")
        #expect(!FileManager.default.fileExists(atPath: (homeFolder as NSString).deletingLastPathComponent), "the cluster's folder is left")
        #expect(HostView.entries(home.path + "/.cloudc/clusters").isEmpty)
    }
}

import Foundation
import TestSupport

/// A user's folder with cloudc (the built binary) on PATH and nothing else set up: commands are
/// typed into a real shell, as a user types them.
final class Desk: Sendable {
    let folder: TemporaryDirectory
    let environment: [String: String]
    static let binary = Paths.repoRoot + "/.build/debug/cloudc"

    init(_ extra: [String: String] = [:]) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw PeerError("\(Self.binary) is missing: build with `swift build --build-tests` first")
        }
        folder = try TemporaryDirectory("cloudc-desk")
        environment = [
            "HOME": folder.path, "CLOUDC_HOME": folder.path + "/.cloudc", "LANG": "C.UTF-8",
            "PATH": (Self.binary as NSString).deletingLastPathComponent + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
        ].merging(extra) { _, new in new }
    }

    /// `line` as typed into `shell -c`, in the user's folder.
    func paste(_ line: String, into shell: String = "/bin/bash") async throws -> Run {
        try await Run.programOffPool("/usr/bin/env", ["-C", folder.path, shell, "-c", line], environment: environment)
    }

    func write(_ path: String, _ text: String) throws -> String { try folder.write(path, text) }

    func read(_ path: String) -> String? { try? String(contentsOfFile: folder.path + "/" + path, encoding: .utf8) }
}

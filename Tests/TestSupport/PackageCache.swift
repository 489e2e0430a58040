import Foundation

/// A caching apt proxy on this machine (`Tests/peers/package_cache.py`), through which test
/// nodes that have no route out install Debian packages, as a cloud image's mirror serves a VM
/// without NAT. It fetches from Debian's archive through this machine, each file once.
/// Stopped by PID with SIGKILL.
public final class PackageCache: Sendable {
    public let port: Int
    public let directory: TemporaryDirectory
    let daemon: Daemon

    /// What the cache fetched from outside and served to nodes.
    public struct Stats: Decodable, Sendable {
        public var upstream_bytes: Int
        public var upstream_files: Int
        public var served_bytes: Int
        public var served_files: Int
        public var hits: Int
        public var refused: Int
    }

    /// `cacheDirectory`: where fetched files are kept (a folder kept between tests makes later runs
    /// fast); nil: a fresh one of its own.
    public init(cacheDirectory: String? = nil) async throws {
        let directory = try TemporaryDirectory("cloudc-package-cache")
        let portFile = directory.path + "/port"
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONUNBUFFERED"] = "1"
        daemon = try Daemon("/usr/bin/env", [
            "python3", Paths.peers + "/package_cache.py", "--cache", cacheDirectory ?? directory.path + "/cache",
            "--port-file", portFile, "--stats", directory.path + "/stats.json",
        ], environment: environment, logPath: directory.path + "/package-cache.log")
        port = try await daemon.waitUntilReady("the package cache", seconds: 15) {
            (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        self.directory = directory
    }

    public var stats: Stats? {
        guard let data = FileManager.default.contents(atPath: directory.path + "/stats.json") else { return nil }
        return try? JSONDecoder().decode(Stats.self, from: data)
    }

    public func stop() { daemon.stop() }
}

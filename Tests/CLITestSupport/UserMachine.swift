import CloudcCLI
import Foundation
import TestSupport

/// A user's machine for one test: a home directory with an SSH key, a config, and cloudc run in-process.
public final class UserMachine: Sendable {
    public let home: TemporaryDirectory
    public let environment: [String: String]

    public init(moto: MotoServer?, config: String, extraEnvironment: [String: String] = [:]) throws {
        let home = try TemporaryDirectory("cloudc-home")
        _ = try makeSSHKey(in: home.path)
        var environment = [
            "HOME": home.path,
            "CLOUDC_HOME": home.path + "/.cloudc",
            "CLOUDC_POLL_SECONDS": "0.1",
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
        ]
        if let moto {
            environment["AWS_ACCESS_KEY_ID"] = moto.accessKeyID
            environment["AWS_SECRET_ACCESS_KEY"] = moto.secretAccessKey
        }
        environment.merge(extraEnvironment) { _, new in new }
        try FileManager.default.createDirectory(atPath: home.path + "/.cloudc", withIntermediateDirectories: true)
        let text = config.replacingOccurrences(of: "$HOME", with: home.path)
            .replacingOccurrences(of: "$ENDPOINT", with: moto?.endpoint ?? "http://127.0.0.1:9")
        _ = try home.write(".cloudc/config.yaml", text)
        self.home = home
        self.environment = environment
    }

    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    public func cloudc(_ arguments: String..., environment extra: [String: String] = [:]) async -> Result {
        await cloudc(arguments, environment: extra)
    }

    public func cloudc(_ arguments: [String], environment extra: [String: String] = [:]) async -> Result {
        let out = OutputCapture(), err = OutputCapture()
        let context = CLIContext(environment: environment.merging(extra) { _, new in new }, homeDirectory: home.path,
                                 output: { out.append($0) }, errorOutput: { err.append($0) })
        let status = await CloudcMain.run(arguments: arguments, context: context)
        return Result(status: status, stdout: out.text, stderr: err.text)
    }

    public var stateDirectory: String { home.path + "/.cloudc/clusters" }

    public func stateFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: stateDirectory)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
    }
}


extension UserMachine {
    /// Runs the built `cloudc` binary (not in-process: it must be killable) with `arguments`,
    /// polls `condition` until it holds (at most `seconds`), then kills the process with SIGKILL,
    /// as a power cut or `kill -9` would. Returns whether the condition held before the kill.
    public func runCloudcKilled(_ arguments: [String], seconds: Double = 10, stderr: FileHandle? = nil,
                                environment extra: [String: String] = [:],
                                when condition: () async throws -> Bool) async throws -> Bool {
        let binary = Paths.repoRoot + "/.build/debug/cloudc"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw PeerError("\(binary) is missing: build with `swift build --build-tests` first")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = environment.merging(extra) { _, new in new }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = stderr ?? FileHandle.nullDevice
        try process.run()
        defer {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            if !process.isRunning { return false }   // it ended (or killed itself at a failpoint) first
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        return false
    }
}

extension UserMachine {
    /// What a killed run printed, and whether the line it was killed at came.
    public struct KilledRun: Sendable {
        public var sawLine: Bool
        public var stderr: String
    }

    /// Runs the built `cloudc` binary with `arguments` and kills it with SIGKILL `delay` seconds
    /// after a progress line containing `line` appears on its stderr (or after `delay` seconds
    /// from its start when `line` is nil): a kill at a known point of the command, as `kill -9`
    /// or a power cut would make it. Gives up (and kills) after `seconds`.
    public func runCloudcKilled(_ arguments: [String], atLine line: String?, delay: Double = 0,
                                seconds: Double = 60, environment extra: [String: String] = [:]) async throws -> KilledRun {
        let log = home.path + "/killed-\(UUID().uuidString.prefix(8)).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        defer { unlink(log) }
        func printed() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        var seen = false
        let started = Date()
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        defer { try? handle.close() }
        _ = try await runCloudcKilled(arguments, seconds: seconds, stderr: handle, environment: extra) {
            if !seen {
                if let line { seen = printed().contains(line) } else { seen = true }
                if seen, line != nil { try await Task.sleep(nanoseconds: UInt64(delay * 1e9)) }
            }
            return seen && (line != nil || Date().timeIntervalSince(started) >= delay)
        }
        return KilledRun(sawLine: seen, stderr: printed())
    }
}

/// Where to kill a command: `delay` seconds after a progress line (the kill lands in the work
/// that follows it), or at a `Failpoint` (a moment no outside timing hits).
public struct KillPoint: Sendable, CustomStringConvertible {
    public var description: String
    public var line: String?
    public var delay: Double
    public var failpoint: String?

    public init(_ description: String, line: String? = nil, delay: Double = 0, failpoint: String? = nil) {
        self.description = description; self.line = line; self.delay = delay; self.failpoint = failpoint
    }
}

extension UserMachine {
    /// Runs the built binary with `arguments` and kills it at `point`.
    public func runCloudcKilled(_ arguments: [String], at point: KillPoint) async throws -> KilledRun {
        try await runCloudcKilled(arguments, atLine: point.line, delay: point.failpoint == nil ? point.delay : 60,
                                  environment: point.failpoint.map { ["CLOUDC_FAILPOINT": $0] } ?? [:])
    }
}

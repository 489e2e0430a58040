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


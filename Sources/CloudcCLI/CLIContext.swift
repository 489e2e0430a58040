import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a command may touch of the outside world: the environment and the terminal.
/// Tests run commands in-process with their own context.
public struct CLIContext: Sendable {
    public var environment: [String: String]
    public var homeDirectory: String
    public var output: @Sendable (String) -> Void
    public var errorOutput: @Sendable (String) -> Void

    public init(environment: [String: String], homeDirectory: String,
                output: @escaping @Sendable (String) -> Void, errorOutput: @escaping @Sendable (String) -> Void) {
        self.environment = environment; self.homeDirectory = homeDirectory
        self.output = output; self.errorOutput = errorOutput
    }

    /// This process's environment, stdout and stderr.
    public static var process: CLIContext {
        let env = ProcessInfo.processInfo.environment
        return CLIContext(
            environment: env,
            homeDirectory: env["HOME"] ?? NSHomeDirectory(),
            output: { line in FileHandle.standardOutput.write(Data((line + "\n").utf8)) },
            errorOutput: { line in FileHandle.standardError.write(Data((line + "\n").utf8)) })
    }

    @TaskLocal public static var current: CLIContext = .process

    /// `$CLOUDC_HOME`, default `~/.cloudc`.
    public var cloudcHome: String {
        if let home = environment["CLOUDC_HOME"], !home.isEmpty { return home }
        return homeDirectory + "/.cloudc"
    }

    public func print(_ line: String) { output(line) }
    public func note(_ line: String) { errorOutput(line) }
}

/// Progress lines go to stderr so stdout stays clean for tables and JSON.
struct StderrProgress: ProgressSink {
    let context: CLIContext
    func report(_ line: String) { context.errorOutput("• " + line) }
}

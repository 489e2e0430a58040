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
    /// Bytes for stdout exactly as given (no newline added), for output that must be byte for byte
    /// (`cloudc export --format slurm.conf`). When nil they go to `output` as one piece of text.
    public var outputBytes: (@Sendable ([UInt8]) -> Void)?
    /// Child programs (`cloudc ssh`) use this process's terminal; when false their output
    /// goes through `output` and `errorOutput` (tests).
    public var inheritsTerminal: Bool

    public init(environment: [String: String], homeDirectory: String,
                output: @escaping @Sendable (String) -> Void, errorOutput: @escaping @Sendable (String) -> Void,
                inheritsTerminal: Bool = false, outputBytes: (@Sendable ([UInt8]) -> Void)? = nil) {
        self.environment = environment; self.homeDirectory = homeDirectory
        self.output = output; self.errorOutput = errorOutput; self.inheritsTerminal = inheritsTerminal
        self.outputBytes = outputBytes
    }

    /// This process's environment, stdout and stderr.
    public static var process: CLIContext {
        let env = ProcessInfo.processInfo.environment
        return CLIContext(
            environment: env,
            homeDirectory: env["HOME"] ?? NSHomeDirectory(),
            output: { line in FileHandle.standardOutput.write(Data((line + "\n").utf8)) },
            errorOutput: { line in FileHandle.standardError.write(Data((line + "\n").utf8)) },
            inheritsTerminal: true,
            outputBytes: { bytes in FileHandle.standardOutput.write(Data(bytes)) })
    }

    /// Runs a program in the foreground and returns its exit status.
    public func runForeground(_ path: String, _ arguments: [String]) async throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let captured = inheritsTerminal ? nil : (CapturedOutput(), CapturedOutput())
        if let (out, err) = captured {
            process.standardOutput = out.pipe
            process.standardError = err.pipe
            process.standardInput = FileHandle.nullDevice
        }
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: CloudcError(.io, "cannot run \(path)", cause: "\(error)"))
            }
        }
        if let (out, err) = captured {
            if let text = out.finish() { output(text) }
            if let text = err.finish() { errorOutput(text) }
        }
        return status
    }

    @TaskLocal public static var current: CLIContext = .process

    /// `$CLOUDC_HOME`, default `~/.cloudc`.
    public var cloudcHome: String {
        if let home = environment["CLOUDC_HOME"], !home.isEmpty { return home }
        return homeDirectory + "/.cloudc"
    }

    public func print(_ line: String) { output(line) }

    /// Writes `bytes` to stdout as they are.
    public func write(_ bytes: [UInt8]) {
        if let outputBytes { outputBytes(bytes) } else { output(String(decoding: bytes, as: UTF8.self)) }
    }
    public func note(_ line: String) { errorOutput(line) }
}

/// Progress lines go to stderr so stdout stays clean for tables and JSON.
struct StderrProgress: ProgressSink {
    let context: CLIContext
    func report(_ line: String) { context.errorOutput("• " + line) }
}

/// A child's output read as it comes (so a full pipe never stalls the child), kept whole.
final class CapturedOutput: @unchecked Sendable {
    let pipe = Pipe()
    private let lock = NSLock()
    private var data = Data()

    init() {
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let chunk = handle.availableData
            guard let self, !chunk.isEmpty else { return }
            self.lock.lock(); self.data.append(chunk); self.lock.unlock()
        }
    }

    /// Everything the child wrote, without its final newline; nil when it wrote nothing.
    func finish() -> String? {
        pipe.fileHandleForReading.readabilityHandler = nil
        let rest = pipe.fileHandleForReading.readDataToEndOfFile()
        lock.lock(); data.append(rest); let all = data; lock.unlock()
        guard !all.isEmpty else { return nil }
        var text = String(decoding: all, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        return text
    }
}

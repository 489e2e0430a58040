import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What one host command left behind.
public struct CommandResult: Sendable, Equatable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public init(status: Int32, stdout: String = "", stderr: String = "") {
        self.status = status; self.stdout = stdout; self.stderr = stderr
    }
}

/// The one door from the local provider to the host's programs (`ip`, `mount`, `debootstrap`,
/// `systemd-nspawn`, …). Tests can stand in another implementation.
public protocol HostCommands: Sendable {
    /// Runs `program` (a name looked up on PATH and in the sbin folders, or an absolute path)
    /// to completion. A non-zero exit is a result, not an error; throws only when the program
    /// cannot be started.
    func execute(_ program: String, _ arguments: [String]) async throws -> CommandResult

    /// The full path of `program`, nil when it is not installed.
    func locate(_ program: String) -> String?
}

extension HostCommands {
    /// Runs a command that must succeed: a failure throws a CloudcError naming the command
    /// and quoting its stderr. Returns its stdout.
    @discardableResult
    public func run(_ program: String, _ arguments: [String], fix: String? = nil) async throws -> String {
        let result = try await execute(program, arguments)
        guard result.status == 0 else {
            throw CloudcError(.io, "'\(Self.commandLine(program, arguments))' failed with exit status \(result.status)",
                              fix: fix, cause: CommandResultText.lastLines(result.stderr.isEmpty ? result.stdout : result.stderr))
        }
        return result.stdout
    }

    static func commandLine(_ program: String, _ arguments: [String]) -> String {
        ([program] + arguments).map { $0.contains(" ") || $0.isEmpty ? "'\($0)'" : $0 }.joined(separator: " ")
    }
}

/// Host commands through Foundation.Process.
///
/// Output goes to unlinked temporary files rather than pipes: a daemon the command leaves
/// behind (systemd-nspawn started with `setsid -f`) may keep its inherited descriptors,
/// and a pipe would then never reach end-of-file. The wait is a termination handler
/// resuming a continuation, so no thread of Swift's cooperative pool blocks on a child.
public struct ProcessHostCommands: HostCommands {
    /// Where programs are looked for: PATH, then the folders root's PATH usually has.
    let searchPath: [String]
    let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let standard = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        var path = (environment["PATH"] ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
        for dir in standard where !path.contains(dir) { path.append(dir) }
        self.searchPath = path
        var env = environment
        env["PATH"] = path.joined(separator: ":")
        env["LC_ALL"] = "C"
        env["DEBIAN_FRONTEND"] = "noninteractive"
        self.environment = env
    }

    public func locate(_ program: String) -> String? {
        if program.hasPrefix("/") { return access(program, X_OK) == 0 ? program : nil }
        for dir in searchPath {
            let candidate = dir + "/" + program
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    public func execute(_ program: String, _ arguments: [String]) async throws -> CommandResult {
        guard let path = locate(program) else {
            throw CloudcError(.unsupported, "the program '\(program)' is not installed on this machine",
                              fix: "install it (bash scripts/install-deps.sh installs what the local provider needs)")
        }
        let out = try CaptureFile(), err = try CaptureFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out.handle
        process.standardError = err.handle
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { finished in continuation.resume(returning: finished.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: CloudcError(.io, "cannot start \(path)", cause: "\(error)"))
            }
        }
        let result = CommandResult(status: status, stdout: out.contents(), stderr: err.contents())
        // Closed now, not when Foundation lets go of the Process (which may be never): a launch of
        // many nodes runs hundreds of commands, and each left two descriptors open.
        out.close()
        err.close()
        return result
    }
}

/// An unlinked temporary file that collects one stream of a child's output.
final class CaptureFile: Sendable {
    let handle: FileHandle

    init() throws {
        var template = Array((FileManager.default.temporaryDirectory.path + "/cloudc-out-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return -1 }
            return mkstemp(base)
        }
        guard fd >= 0 else {
            throw CloudcError(.io, "cannot create a temporary file for a command's output", cause: String(cString: strerror(errno)))
        }
        // A file (unlike a pipe) that leaks into another child blocks nobody, so the short
        // window before close-on-exec is harmless.
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        template.withUnsafeBufferPointer { buffer in
            if let base = buffer.baseAddress { unlink(base) }
        }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    func close() { try? handle.close() }

    /// Everything written so far, from the start.
    func contents() -> String {
        let fd = handle.fileDescriptor
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        var offset: off_t = 0
        while true {
            let n = pread(fd, &buffer, buffer.count, offset)
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<n])
            offset += off_t(n)
        }
        return String(decoding: data, as: UTF8.self)
    }
}

import Foundation

/// Collects what a command printed, from any thread.
public final class OutputCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    public init() {}

    public func append(_ line: String) {
        lock.lock(); defer { lock.unlock() }
        lines.append(line)
    }

    public var text: String {
        lock.lock(); defer { lock.unlock() }
        return lines.joined(separator: "\n")
    }
}

/// An ed25519 key pair made with OpenSSH's ssh-keygen.
public func makeSSHKey(in directory: String, name: String = "id_ed25519") throws -> String {
    let path = directory + "/" + name
    let run = try Run.program("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "cloudc-test", "-f", path])
    guard run.status == 0 else { throw PeerError("ssh-keygen failed: \(run.stderr)") }
    return path
}

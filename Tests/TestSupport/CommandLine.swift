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

/// Polls `condition` until it holds, and throws (failing the test) if it has not within `seconds`:
/// a wait never runs out silently into the assertions after it.
public func waitUntil(_ what: String, seconds: Double, interval: Double = 0.05,
                      _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while true {
        if try await condition() { return }
        if Date() >= deadline { throw PeerError("waited \(seconds) s for \(what), in vain") }
        try await Task.sleep(nanoseconds: UInt64(interval * 1_000_000_000))
    }
}

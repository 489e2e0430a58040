import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on one cluster, held by one cloudc process for one command.
///
/// It is an flock(2) on `<name>.lock`: the kernel drops it when the process exits, so a
/// crashed cloudc never leaves a stale lock. A second process does not wait: it is told
/// who holds the lock and stops.
public final class ClusterLock: @unchecked Sendable {
    // Only touched in init and deinit/release, from the owning task.
    private var fd: Int32
    public let path: String

    init(path: String, command: String) throws {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CloudcError(.io, "cannot open the lock file \(path)", cause: String(cString: strerror(errno)))
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let failure = errno
            let holder = Self.holder(fd: fd)
            close(fd)
            guard failure == EWOULDBLOCK else {
                throw CloudcError(.io, "cannot lock \(path)", cause: String(cString: strerror(failure)))
            }
            let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            throw CloudcError(.stateLocked, "cluster '\(name)' is in use by another cloudc process (\(holder))",
                              fix: "wait for that command to finish and try again; the lock is released when it exits")
        }
        self.fd = fd
        // Say who we are, for the next one who finds the lock taken.
        let note = "pid \(getpid()): \(command)\n"
        ftruncate(fd, 0)
        _ = note.withCString { write(fd, $0, strlen($0)) }
    }

    /// Releases the lock now (it is also released on deinit and on exit).
    public func release() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { release() }

    /// Who holds the lock: the pid from /proc/locks, its command line, else the note in the file.
    static func holder(fd: Int32) -> String {
        var info = stat()
        if fstat(fd, &info) == 0, let pid = lockingPID(inode: UInt64(info.st_ino)) {
            if let cmd = ProcFile.data("/proc/\(pid)/cmdline"), !cmd.isEmpty {
                let words = cmd.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                return "pid \(pid): \(words.joined(separator: " "))"
            }
            return "pid \(pid)"
        }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = pread(fd, &buffer, buffer.count, 0)
        if n > 0 {
            return String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return "unknown process"
    }

    /// Parses /proc/locks lines such as `1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF`.
    static func lockingPID(inode: UInt64) -> Int32? {
        guard let data = ProcFile.data("/proc/locks") else { return nil }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] == "FLOCK", let pid = Int32(fields[4]) else { continue }
            let device = fields[5].split(separator: ":")
            if device.count == 3, UInt64(device[2]) == inode { return pid }
        }
        return nil
    }
}

extension StateStore {
    /// Runs `body` holding the cluster's exclusive lock.
    public func withLock<T>(_ name: String, command: String, _ body: () async throws -> T) async throws -> T {
        try Self.validate(name: name)
        try ensureDirectory()
        let lock = try ClusterLock(path: lockPath(of: name), command: command)
        defer { lock.release() }
        return try await body()
    }

    /// Removes the lock file of a cluster whose state is gone (called while holding it).
    public func removeLockFile(_ name: String) {
        unlink(lockPath(of: name))
    }
}

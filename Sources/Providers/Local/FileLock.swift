import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive flock(2) on a file, shared by every cloudc process (and every task of one:
/// each holder opens the file itself, and flock locks belong to the open file).
///
/// Waiting never blocks a thread: the lock is tried without blocking, with a short sleep
/// between tries. The kernel drops the lock when its holder exits.
final class FileLock: @unchecked Sendable {
    // Only touched in init and release, by the owning task.
    private var fd: Int32
    let path: String

    private init(fd: Int32, path: String) { self.fd = fd; self.path = path }

    /// Takes the lock, waiting as long as another holder has it; `onWait` runs once if it must wait.
    static func acquire(_ path: String, onWait: @Sendable () -> Void = {}) async throws -> FileLock {
        let folder = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CloudcError(.io, "cannot open the lock file \(path)", cause: String(cString: strerror(errno)))
        }
        var told = false
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let failure = errno
            guard failure == EWOULDBLOCK || failure == EINTR else {
                close(fd)
                throw CloudcError(.io, "cannot lock \(path)", cause: String(cString: strerror(failure)))
            }
            if !told { onWait(); told = true }
            do {
                try await Task.sleep(nanoseconds: 100_000_000)
            } catch {
                close(fd)
                throw error
            }
        }
        return FileLock(fd: fd, path: path)
    }

    func release() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { release() }
}

/// Runs `body` holding the lock on `path`.
func withFileLock<T>(_ path: String, onWait: @Sendable () -> Void = {}, _ body: () async throws -> T) async throws -> T {
    let lock = try await FileLock.acquire(path, onWait: onWait)
    defer { lock.release() }
    return try await body()
}

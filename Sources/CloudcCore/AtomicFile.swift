import Foundation

/// Writing a file whole or not at all: state files, run records, exported configs.
public enum AtomicFile {
    /// Writes `data` to a new temporary file beside `file` with exactly `mode`, fsyncs it, renames
    /// it over `file` and fsyncs the folder: a crash leaves the old file or the new one, never a
    /// part. Without `sync` the file is still never seen half-written, but a crash may lose it.
    /// `what` names the file in the error ("the state file"). With `replacing: false` an existing
    /// `file` is never replaced, even one made meanwhile by another process: `.exists` is thrown.
    public static func write(_ data: Data, to file: String, mode: mode_t, sync: Bool = true, what: String? = nil,
                             replacing: Bool = true) throws {
        let folder = (file as NSString).deletingLastPathComponent
        let temporary = "\(file).tmp-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw CloudcError(.io, "cannot write \(what.map { "\($0) " } ?? "")\(file)",
                              fix: "check that \(folder.isEmpty ? "the working folder" : folder) exists and is writable",
                              cause: String(cString: strerror(errno)))
        }
        var failure: String?
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count, failure == nil, let base = raw.baseAddress {
                let n = Foundation.write(fd, base + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                } else {
                    offset += n
                }
            }
        }
        // open's mode is filtered by the umask; the file gets exactly `mode`.
        if failure == nil, fchmod(fd, mode) != 0 { failure = String(cString: strerror(errno)) }
        if failure == nil, sync, fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil, !replacing {
            // link(2) never replaces: the name is taken whole, or not at all.
            let linked = link(temporary, file) == 0
            let error = errno
            unlink(temporary)
            if !linked {
                if error == EEXIST {
                    throw CloudcError(.io, "\(what.map { "\($0) " } ?? "")\(file) exists already; it is left as it is",
                                      fix: "edit it, remove it first, or write to another path")
                }
                failure = String(cString: strerror(error))
            }
        } else if failure == nil, rename(temporary, file) != 0 {
            failure = String(cString: strerror(errno))
        }
        if let failure {
            unlink(temporary)
            throw CloudcError(.io, "cannot write \(what.map { "\($0) " } ?? "")\(file); the previous version is unchanged",
                              fix: "check free disk space and the permissions of \(folder.isEmpty ? "the working folder" : folder)",
                              cause: failure)
        }
        if sync { syncFolder(folder.isEmpty ? "." : folder) }
    }

    public static func write(_ bytes: [UInt8], to file: String, mode: mode_t, sync: Bool = true, what: String? = nil) throws {
        try write(Data(bytes), to: file, mode: mode, sync: sync, what: what)
    }

    /// fsyncs a folder, so a rename in it survives a crash; false if it cannot be opened.
    @discardableResult
    public static func syncFolder(_ folder: String) -> Bool {
        let fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return fsync(fd) == 0
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Files read and written below a trusted folder without following any symbolic link below it.
///
/// cloudc writes, often as root, into folders that someone else can change: a job's outputs
/// harvested into the user's folder, a node's writable root, a login user's home. A name there
/// may be a link planted to send the write elsewhere (`~/.ssh/authorized_keys` → `/etc/shadow`).
/// Every folder below `root` is opened with `O_NOFOLLOW` from the one above it, the file is
/// written to a new temporary name and renamed over the target (a rename replaces a link, it
/// never writes through one), and ownership is set on the open descriptors (`fchown`).
public enum SafeFiles {
    /// The components of a relative path if each is a plain name (not empty, `.` or `..`, no
    /// NUL); nil for an absolute path or any other.
    public static func components(_ relative: String) -> [String]? {
        guard !relative.hasPrefix("/"), !relative.isEmpty else { return nil }
        let parts = relative.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." && !$0.contains("\0") }) else { return nil }
        return parts
    }

    /// Writes `data` to `root/path` (path: plain names, the last the file's). Missing folders
    /// are made with `folderMode`; `owner` gets the folders this call makes, the file's own
    /// folder, and the file. A link anywhere below `root` is refused.
    public static func write(_ data: Data, to path: [String], under root: String, mode: mode_t = 0o644,
                             folderMode: mode_t = 0o755, owner: (uid: uid_t, gid: gid_t)? = nil) throws {
        guard let name = path.last else { throw refused(root, path, "an empty path") }
        let folder = try openFolder(Array(path.dropLast()), under: root, create: true, mode: folderMode, owner: owner)
        defer { close(folder) }
        if let owner, fchown(folder, owner.uid, owner.gid) != 0 { throw failure("set the owner of", root, path.dropLast(), errno) }
        let temporary = ".\(name.prefix(32)).cloudc-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = openat(folder, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw failure("write", root, path, errno) }
        var error: Int32 = 0
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count, error == 0, let base = raw.baseAddress {
                let n = Glibc.write(fd, base + offset, raw.count - offset)
                if n < 0 { if errno != EINTR { error = errno } } else { offset += n }
            }
        }
        if error == 0, fchmod(fd, mode) != 0 { error = errno }
        if error == 0, let owner, fchown(fd, owner.uid, owner.gid) != 0 { error = errno }
        close(fd)
        if error == 0, renameat(folder, temporary, folder, name) != 0 { error = errno }
        if error != 0 {
            unlinkat(folder, temporary, 0)
            throw failure("write", root, path, error)
        }
    }

    /// The content of `root/path`, nil when there is no such file; a link is refused.
    public static func read(_ path: [String], under root: String) throws -> Data? {
        guard let name = path.last else { throw refused(root, path, "an empty path") }
        let folder: Int32
        do {
            folder = try openFolder(Array(path.dropLast()), under: root, create: false, mode: 0, owner: nil)
        } catch let error as CloudcError where error.code == .notFound {
            return nil
        }
        defer { close(folder) }
        let fd = openat(folder, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw failure("read", root, path, errno)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { throw refused(root, path, "not a regular file") }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n < 0 { if errno == EINTR { continue }; throw failure("read", root, path, errno) }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return data
    }

    /// Makes the folders of `path` below `root` (those missing), never through a link.
    public static func makeFolders(_ path: [String], under root: String, mode: mode_t = 0o755,
                                   owner: (uid: uid_t, gid: gid_t)? = nil) throws {
        let fd = try openFolder(path, under: root, create: true, mode: mode, owner: owner)
        close(fd)
    }

    /// Makes the folders of `path` (as `makeFolders`) and removes any of `names` in the last one
    /// that is not a regular file (a link above all): what a tool that follows paths, run as
    /// root, may then create there lands in that folder and nowhere else.
    public static func clearLinks(_ names: [String], in path: [String], under root: String, mode: mode_t = 0o755) throws {
        let fd = try openFolder(path, under: root, create: true, mode: mode, owner: nil)
        defer { close(fd) }
        for name in names {
            var info = stat()
            guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0, (info.st_mode & S_IFMT) != S_IFREG else { continue }
            guard unlinkat(fd, name, (info.st_mode & S_IFMT) == S_IFDIR ? AT_REMOVEDIR : 0) == 0 else {
                throw failure("remove", root, path + [name], errno)
            }
        }
    }

    /// Removes the file (or link) `root/path` if it is there, reaching its folder without links.
    public static func remove(_ path: [String], under root: String) throws {
        guard let name = path.last else { return }
        let fd: Int32
        do {
            fd = try openFolder(Array(path.dropLast()), under: root, create: false, mode: 0o755, owner: nil)
        } catch let error as CloudcError where error.code == .notFound {
            return
        }
        defer { close(fd) }
        guard unlinkat(fd, name, 0) == 0 || errno == ENOENT else { throw failure("remove", root, path, errno) }
    }

    /// Opens `root/path` as a folder, one component at a time with `O_NOFOLLOW`, making those
    /// missing when `create`. Throws `.notFound` for a missing one otherwise.
    static func openFolder(_ path: [String], under root: String, create: Bool, mode: mode_t,
                           owner: (uid: uid_t, gid: gid_t)?) throws -> Int32 {
        var fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT && !create { throw CloudcError(.notFound, "no folder \(root)") }
            throw failure("open", root, [], errno)
        }
        for (index, name) in path.enumerated() {
            guard !name.isEmpty, name != ".", name != "..", !name.contains("/") else {
                close(fd)
                throw refused(root, path, "the name '\(name)' leaves its folder")
            }
            var next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0, errno == ENOENT, create {
                if mkdirat(fd, name, mode) != 0, errno != EEXIST {
                    let error = errno
                    close(fd)
                    throw failure("create the folder", root, path.prefix(index + 1), error)
                }
                next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if next >= 0 {
                    _ = fchmod(next, mode)
                    if let owner { _ = fchown(next, owner.uid, owner.gid) }
                }
            }
            let error = errno
            close(fd)
            guard next >= 0 else {
                if error == ENOENT { throw CloudcError(.notFound, "no folder \(root)/\(path.prefix(index + 1).joined(separator: "/"))") }
                throw failure("open the folder", root, path.prefix(index + 1), error)
            }
            fd = next
        }
        return fd
    }

    static func refused(_ root: String, _ path: some Collection<String>, _ why: String) -> CloudcError {
        CloudcError(.io, "refusing \(root)/\(path.joined(separator: "/")): \(why)",
                    fix: "remove what is in the way (only plain files and folders are written there), then run the command again")
    }

    /// ELOOP and ENOTDIR from an `O_NOFOLLOW` open mean a link stood in the way.
    static func failure(_ what: String, _ root: String, _ path: some Collection<String>, _ code: Int32) -> CloudcError {
        let shown = path.isEmpty ? root : "\(root)/\(path.joined(separator: "/"))"
        if code == ELOOP || code == ENOTDIR {
            return CloudcError(.io, "refusing to \(what) \(shown): a symbolic link (or a file) stands where a folder or file should be",
                               fix: "remove the link (cloudc never writes through links there), then run the command again")
        }
        return CloudcError(.io, "cannot \(what) \(shown)", cause: String(cString: strerror(code)))
    }
}

import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Copies folders on this machine the way the executors need: only files whose size or
/// modification time differ are copied (keeping mode and time, so the next comparison holds),
/// links are kept as links when they stay inside the tree and refused when they leave it.
enum TreeCopy {
    struct Counts: Equatable {
        var copied = 0
        var unchanged = 0
        var removed = 0
        var bytes: Int64 = 0
    }

    /// Makes `destination` a copy of `source`: new and changed files are copied, what `source`
    /// no longer has is removed. Refuses links that point outside `source`, and anything that is
    /// not a file, folder or link, naming it.
    static func mirror(from source: String, to destination: String) throws -> Counts {
        var counts = Counts()
        let root = try realPath(source)
        try makeDirectory(destination, mode: 0o700)
        try mirrorFolder(root, destination, root: root, counts: &counts)
        return counts
    }

    private static func mirrorFolder(_ source: String, _ destination: String, root: String, counts: inout Counts) throws {
        let names = try entries(source)
        for name in names {
            let from = source + "/" + name, to = destination + "/" + name
            let info = try lstatOrThrow(from)
            let existing = lstatOrNil(to)
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                if let existing, existing.st_mode & S_IFMT != S_IFDIR { try remove(to); counts.removed += 1 }
                // Kept writable by its owner, so the next copy can update it.
                let mode = (info.st_mode & 0o7777) | 0o700
                try makeDirectory(to, mode: mode)
                try mirrorFolder(from, to, root: root, counts: &counts)
                chmod(to, mode)
            case S_IFREG:
                if let existing, existing.st_mode & S_IFMT == S_IFREG, existing.st_size == info.st_size,
                   existing.st_mtim.tv_sec == info.st_mtim.tv_sec, existing.st_mtim.tv_nsec == info.st_mtim.tv_nsec {
                    if existing.st_mode & 0o7777 != info.st_mode & 0o7777 { chmod(to, info.st_mode & 0o7777) }
                    counts.unchanged += 1
                    continue
                }
                if let existing, existing.st_mode & S_IFMT == S_IFDIR { try remove(to) }
                try copyFile(from, to, info: info)
                counts.copied += 1
                counts.bytes += Int64(info.st_size)
            case S_IFLNK:
                let target = try linkTarget(from, root: root)
                if let existing {
                    if existing.st_mode & S_IFMT == S_IFLNK, (try? readLink(to)) == target {
                        counts.unchanged += 1
                        continue
                    }
                    try remove(to)
                }
                guard symlink(target, to) == 0 else {
                    throw CloudcError(.io, "cannot make the link \(to)", cause: String(cString: strerror(errno)))
                }
                counts.copied += 1
            default:
                throw CloudcError(.usage, "the work folder holds \(from), which is neither a file, a folder nor a link",
                                  fix: "move it out of the work folder (pipes, sockets and devices cannot be sent to a cluster)")
            }
        }
        let wanted = Set(names)
        for name in try entries(destination) where !wanted.contains(name) {
            try remove(destination + "/" + name)
            counts.removed += 1
        }
    }

    /// Copies `source`'s files into `destination`, creating folders only where a file lands.
    /// Skips links (the work files a task sees) and the top-level names in `skipping`; removes nothing.
    static func copyOutputs(from source: String, to destination: String, skipping: Set<String>) throws -> Counts {
        var counts = Counts()
        try copyOutputFolder(source, destination, skipping: skipping, counts: &counts)
        return counts
    }

    private static func copyOutputFolder(_ source: String, _ destination: String, skipping: Set<String>,
                                         counts: inout Counts) throws {
        for name in try entries(source) where !skipping.contains(name) {
            let from = source + "/" + name, to = destination + "/" + name
            guard let info = lstatOrNil(from) else { continue }   // gone while we looked: a running task
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                try copyOutputFolder(from, to, skipping: [], counts: &counts)
            case S_IFREG:
                try makeDirectories(destination)
                if let existing = lstatOrNil(to), existing.st_mode & S_IFMT == S_IFREG, existing.st_size == info.st_size,
                   existing.st_mtim.tv_sec == info.st_mtim.tv_sec, existing.st_mtim.tv_nsec == info.st_mtim.tv_nsec {
                    counts.unchanged += 1
                    continue
                }
                if let existing = lstatOrNil(to), existing.st_mode & S_IFMT == S_IFDIR { try remove(to) }
                try copyFile(from, to, info: info)
                counts.copied += 1
                counts.bytes += Int64(info.st_size)
            default:
                continue   // links are the work folder's files; pipes and sockets are no outputs
            }
        }
    }

    // MARK: links

    /// The target to give the copy of the link `path`: a relative target that stays inside
    /// `root` as it is; an absolute one inside `root` made relative; anything else refused.
    static func linkTarget(_ path: String, root: String) throws -> String {
        let target = try readLink(path)
        let folder = (path as NSString).deletingLastPathComponent
        let resolved = normalize(target.hasPrefix("/") ? target : folder + "/" + target)
        guard resolved == root || resolved.hasPrefix(root + "/") else {
            throw CloudcError(.usage, "the work folder's link \(path) points outside it (to \(target))",
                              fix: "replace the link with a copy of what it points to, or move that into the work folder; a cluster's nodes cannot follow it")
        }
        guard target.hasPrefix("/") else { return target }
        let from = normalize(folder).split(separator: "/").map(String.init)
        let to = resolved.split(separator: "/").map(String.init)
        var common = 0
        while common < from.count, common < to.count, from[common] == to[common] { common += 1 }
        let relative = Array(repeating: "..", count: from.count - common) + to[common...]
        return relative.isEmpty ? "." : relative.joined(separator: "/")
    }

    /// `/a/b/../c/./d` → `/a/c/d`, without following links.
    static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." || part.isEmpty { continue }
            if part == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    static func readLink(_ path: String) throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else {
            throw CloudcError(.io, "cannot read the link \(path)", cause: String(cString: strerror(errno)))
        }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func realPath(_ path: String) throws -> String {
        guard let resolved = realpath(path, nil) else {
            throw CloudcError(.notFound, "the folder \(path) does not exist", fix: "check the path given with --dir",
                              cause: String(cString: strerror(errno)))
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    // MARK: files

    /// Copies one regular file through a temporary file and a rename, with its mode and times.
    static func copyFile(_ from: String, _ to: String, info: stat) throws {
        let input = open(from, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else {
            throw CloudcError(.io, "cannot read \(from)", fix: "check its permissions", cause: String(cString: strerror(errno)))
        }
        defer { close(input) }
        let temp = "\(to).cloudc-tmp-\(getpid())"
        let output = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard output >= 0 else {
            throw CloudcError(.io, "cannot write \(temp)", cause: String(cString: strerror(errno)))
        }
        var failure: String?
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        copying: while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                failure = "reading \(from): " + String(cString: strerror(errno))
                break
            }
            if n == 0 { break }
            var offset = 0
            while offset < n {
                let written = buffer.withUnsafeBytes { raw -> Int in
                    guard let base = raw.baseAddress else { return -1 }
                    return write(output, base + offset, n - offset)
                }
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = "writing \(temp): " + String(cString: strerror(errno))
                    break copying
                }
                offset += written
            }
        }
        if failure == nil, fchmod(output, info.st_mode & 0o7777) != 0 { failure = String(cString: strerror(errno)) }
        var times = [info.st_atim, info.st_mtim]
        if failure == nil, futimens(output, &times) != 0 { failure = String(cString: strerror(errno)) }
        close(output)
        if failure == nil, rename(temp, to) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temp)
            throw CloudcError(.io, "cannot copy \(from) to \(to)", fix: "check free disk space and permissions", cause: failure)
        }
    }

    static func entries(_ folder: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        } catch {
            throw CloudcError(.io, "cannot list the folder \(folder)", fix: "check its permissions", cause: "\(error)")
        }
    }

    static func lstatOrNil(_ path: String) -> stat? {
        var info = stat()
        return lstat(path, &info) == 0 ? info : nil
    }

    static func lstatOrThrow(_ path: String) throws -> stat {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            throw CloudcError(.io, "cannot read \(path)", cause: String(cString: strerror(errno)))
        }
        return info
    }

    static func makeDirectory(_ path: String, mode: mode_t) throws {
        if mkdir(path, mode) != 0 && errno != EEXIST {
            throw CloudcError(.io, "cannot create the folder \(path)", fix: "check that its parent is writable",
                              cause: String(cString: strerror(errno)))
        }
    }

    static func makeDirectories(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw CloudcError(.io, "cannot create the folder \(path)", fix: "check that its parent is writable", cause: "\(error)")
        }
    }

    static func remove(_ path: String) throws {
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            throw CloudcError(.io, "cannot remove \(path)", fix: "check its permissions", cause: "\(error)")
        }
    }
}

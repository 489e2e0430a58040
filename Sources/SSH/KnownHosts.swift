import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A cluster's own known_hosts file, in OpenSSH's format, so that the system `ssh` can use it
/// too (`ssh -o UserKnownHostsFile=FILE -o StrictHostKeyChecking=yes`).
///
/// A host's key is recorded on first contact and must match afterwards. Hosts are written as
/// OpenSSH writes them: `host` for port 22, `[host]:port` otherwise. Lines this class does not
/// write (comments, hashed `|1|` hosts, wildcards, `@cert-authority` / `@revoked` markers) are
/// kept as they are and never match.
///
/// The file is mode 0600 and replaced atomically (written beside it, then renamed); all reads
/// and writes through one instance are serialised, so many sessions can share it.
public final class KnownHosts: @unchecked Sendable {
    public let path: String
    private let lock = NSLock()

    public init(path: String) {
        self.path = path
    }

    /// How the host is named in the file: `host` for port 22, `[host]:port` otherwise.
    public static func hostPattern(host: String, port: Int) -> String {
        port == 22 ? host : "[\(host)]:\(port)"
    }

    /// A recorded key.
    struct Entry: Equatable {
        var line: Int
        var keyType: String
        var key: [UInt8]
    }

    enum Verdict: Equatable {
        case matched
        case recorded
    }

    /// The keys recorded for the host, `type base64` each.
    public func keys(host: String, port: Int = 22) throws -> [String] {
        lock.lock()
        defer { lock.unlock() }
        return try entries(for: Self.hostPattern(host: host, port: port), in: read()).map {
            "\($0.keyType) \(Data($0.key).base64EncodedString())"
        }
    }

    /// The key types recorded for the host, so the handshake can ask for one of them.
    func keyTypes(host: String, port: Int) throws -> [String] {
        lock.lock()
        defer { lock.unlock() }
        return try entries(for: Self.hostPattern(host: host, port: port), in: read()).map(\.keyType)
    }

    /// Checks the host's key against the file; records it when the host is new.
    /// `fingerprint` (`SHA256:…`) only goes into messages.
    @discardableResult
    func verify(host: String, port: Int, keyType: String, key: [UInt8], fingerprint: String) throws -> Verdict {
        lock.lock()
        defer { lock.unlock() }
        let pattern = Self.hostPattern(host: host, port: port)
        let text = try read()
        let known = entries(for: pattern, in: text)
        if known.contains(where: { $0.keyType == keyType && $0.key == key }) { return .matched }
        if let pinned = known.first(where: { $0.keyType == keyType }) ?? known.first {
            throw CloudcError(
                .hostKey,
                "the host key of \(pattern) (\(keyType) \(fingerprint)) differs from the one recorded on first contact in \(path) line \(pinned.line)",
                fix: "if the node was re-created, delete line \(pinned.line) of \(path) (or run: ssh-keygen -R '\(pattern)' -f \(path)) and connect again; "
                    + "otherwise the connection may be intercepted: do not connect")
        }
        var updated = text
        if !updated.isEmpty && !updated.hasSuffix("\n") { updated += "\n" }
        updated += "\(pattern) \(keyType) \(Data(key).base64EncodedString())\n"
        try replaceFile(with: updated)
        return .recorded
    }

    /// Records `keys` (`type base64` each) as the host's, before any contact: keys the cloud told
    /// out of band, so the first connection is checked too, not trusted. Lines the host had
    /// with other keys are replaced (the out-of-band keys are the authority); the same keys
    /// change nothing.
    public func pin(host: String, port: Int = 22, keys: [String]) throws {
        let wanted: [(type: String, key: [UInt8])] = keys.compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 2, let key = Data(base64Encoded: String(fields[1])) else { return nil }
            return (String(fields[0]), [UInt8](key))
        }
        guard !wanted.isEmpty else { return }
        lock.lock()
        defer { lock.unlock() }
        let pattern = Self.hostPattern(host: host, port: port)
        let text = try read()
        let known = entries(for: pattern, in: text)
        if known.count == wanted.count, wanted.allSatisfy({ w in known.contains { $0.keyType == w.type && $0.key == w.key } }) { return }
        var kept = text.split(separator: "\n", omittingEmptySubsequences: false).filter { Self.parse($0, lineNumber: 0, pattern: pattern) == nil }
        while kept.last?.isEmpty == true { kept.removeLast() }
        var updated = kept.joined(separator: "\n")
        if !updated.isEmpty { updated += "\n" }
        for (type, key) in wanted { updated += "\(pattern) \(type) \(Data(key).base64EncodedString())\n" }
        try replaceFile(with: updated)
    }

    /// The host patterns the file pins keys for (`host` or `[host]:port`), each once.
    public func patterns() throws -> [String] {
        lock.lock()
        defer { lock.unlock() }
        var seen: [String] = []
        for line in try read().split(separator: "\n") where !line.hasPrefix("#") {
            guard let first = line.split(separator: " ").first.map(String.init), !first.isEmpty, !seen.contains(first) else { continue }
            seen.append(first)
        }
        return seen
    }

    /// Removes every line naming the host (for a node that is gone or re-created).
    /// Returns how many lines were removed.
    @discardableResult
    public func forget(host: String, port: Int = 22) throws -> Int {
        lock.lock()
        defer { lock.unlock() }
        let pattern = Self.hostPattern(host: host, port: port)
        let text = try read()
        var kept: [Substring] = []
        var removed = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if Self.parse(line, lineNumber: 0, pattern: pattern) != nil {
                removed += 1
            } else {
                kept.append(line)
            }
        }
        if removed > 0 { try replaceFile(with: kept.joined(separator: "\n")) }
        return removed
    }

    private func entries(for pattern: String, in text: String) -> [Entry] {
        var found: [Entry] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if let entry = Self.parse(line, lineNumber: index + 1, pattern: pattern) { found.append(entry) }
        }
        return found
    }

    /// The line's key when the line names `pattern` (compared without case, as OpenSSH does).
    static func parse(_ line: Substring, lineNumber: Int, pattern: String) -> Entry? {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 3, !fields[0].hasPrefix("#"), !fields[0].hasPrefix("@") else { return nil }
        let wanted = pattern.lowercased()
        let names = fields[0].split(separator: ",")
        guard names.contains(where: { $0.lowercased() == wanted }) else { return nil }
        guard let key = Data(base64Encoded: String(fields[2])) else { return nil }
        return Entry(line: lineNumber, keyType: String(fields[1]), key: [UInt8](key))
    }

    private func read() throws -> String {
        guard FileManager.default.fileExists(atPath: path) else { return "" }
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CloudcError(.io, "cannot read the known hosts file \(path)",
                              fix: "check its permissions, or delete it to record the nodes' keys again",
                              cause: error.localizedDescription)
        }
    }

    /// Writes a temporary file beside the target (0600), flushes it, and renames it over the target.
    private func replaceFile(with text: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw CloudcError(.io, "cannot create the directory \(directory) for the known hosts file",
                                  fix: "check the permissions of its parent", cause: error.localizedDescription)
            }
        }
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ioError("create", temporary) }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress.map { $0 + written }, bytes.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let failure = ioError("write", temporary)
                _ = close(fd)
                _ = unlink(temporary)
                throw failure
            }
            written += n
        }
        guard fsync(fd) == 0 else {
            let failure = ioError("flush", temporary)
            _ = close(fd)
            _ = unlink(temporary)
            throw failure
        }
        _ = close(fd)
        guard rename(temporary, path) == 0 else {
            let failure = ioError("replace", path)
            _ = unlink(temporary)
            throw failure
        }
    }

    /// Built right after the failing call, while `errno` is still its.
    private func ioError(_ verb: String, _ file: String) -> CloudcError {
        CloudcError(.io, "cannot \(verb) \(file) (the known hosts file is \(path))",
                    fix: "check the permissions of \((path as NSString).deletingLastPathComponent) and the free disk space",
                    cause: String(cString: strerror(errno)))
    }
}

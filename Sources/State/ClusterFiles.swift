import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The files a cluster owns beside its state: its pinned SSH host keys and its munge key.
/// Both live and die with the cluster (`remove` on stop), so no two clusters share them.
extension StateStore {
    /// The cluster's own known_hosts (OpenSSH format): host keys pinned on first contact.
    public func knownHostsPath(of name: String) -> String { "\(directory)/\(name).known_hosts" }

    func mungeKeyPath(of name: String) -> String { "\(directory)/\(name).munge.key" }

    /// The cluster's munge key: 1024 random bytes made on first use, then the same bytes
    /// until the cluster is stopped. Mode 0600; never printed.
    public func mungeKey(of name: String) throws -> [UInt8] {
        try Self.validate(name: name)
        try ensureDirectory()
        let path = mungeKeyPath(of: name)
        if let data = FileManager.default.contents(atPath: path) {
            guard data.count >= 32 else {
                throw CloudcError(.state, "the munge key \(path) is too short (\(data.count) bytes)",
                                  fix: "delete it; `cloudc setup \(name)` then makes a new one and installs it on every node")
            }
            return Array(data)
        }
        var generator = SystemRandomNumberGenerator()   // getrandom(2): a cryptographic source
        let bytes = (0..<1024).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        try AtomicFile.write(Data(bytes), to: path, mode: 0o600, what: "the munge key")
        return bytes
    }

    /// Removes the known_hosts and munge key of a stopped cluster.
    public func removeClusterFiles(_ name: String) throws {
        try Self.validate(name: name)
        for file in [knownHostsPath(of: name), mungeKeyPath(of: name)] where unlink(file) != 0 && errno != ENOENT {
            throw CloudcError(.io, "cannot remove \(file)", cause: String(cString: strerror(errno)))
        }
        // A cloudc killed while it wrote one of the cluster's files (state, known_hosts, munge key)
        // leaves its temporary (`FILE.tmp-PID-N`, AtomicFile); the caller holds the lock, so none is
        // in use now.
        let prefix = name + "."
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where entry.hasPrefix(prefix) && entry.contains(".tmp-") {
            unlink(directory + "/" + entry)
        }
    }
}

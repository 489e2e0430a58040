import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one line cloudc adds to `~/.ssh/config` so that the system `ssh` knows a cluster's hosts,
/// and taking it out again. Pure text edits; `SSHConfigInstallation` does the files.
///
/// The line goes at the top: OpenSSH applies an `Include` where it stands, so one placed after a
/// `Host *` or `Match` line would only be read for hosts that block matches. Everything else in
/// the file is kept byte for byte, and removing the line gives back the file as it was.
public enum SSHConfigInclude {
    /// The file, under `~/.ssh`, that holds a cluster's hosts.
    public static func fileName(cluster: String) -> String { "cloudc-\(cluster).config" }

    /// `Include ~/.ssh/cloudc-<cluster>.config`.
    public static func line(cluster: String) -> String { "Include ~/.ssh/\(fileName(cluster: cluster))" }

    /// The config with `line` added as its first line; nil when the line is already in it.
    public static func adding(_ line: String, to config: String) -> String? {
        if lines(of: config).contains(line) { return nil }
        return line + "\n" + config
    }

    /// The config without every line that is exactly `line`; nil when there is none.
    public static func removing(_ line: String, from config: String) -> String? {
        let all = lines(of: config)
        guard all.contains(line) else { return nil }
        return all.filter { $0 != line }.joined(separator: "\n")
    }

    static func lines(of text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }
}

/// A cluster's hosts in `~/.ssh/cloudc-<cluster>.config` (0600, in `~/.ssh` made 0700 when
/// missing), included from `~/.ssh/config` by one line (`SSHConfigInclude`). Installing again
/// rewrites the hosts file and leaves the line as it is (so does `refresh`, after a resize);
/// uninstalling removes both and does not mind either being gone. A `~/.ssh/config` that is a symbolic link (a dotfiles checkout) is
/// edited where it points, keeping its permissions.
public struct SSHConfigInstallation: Sendable {
    public let sshDirectory: String

    /// `home`: the user's home directory (its `.ssh` is where OpenSSH reads `~/.ssh/config`).
    public init(home: String) {
        self.sshDirectory = home + "/.ssh"
    }

    public var configPath: String { sshDirectory + "/config" }
    public func hostsPath(cluster: String) -> String { sshDirectory + "/" + SSHConfigInclude.fileName(cluster: cluster) }

    public struct Outcome: Sendable, Equatable {
        /// Whether `~/.ssh/config` changed (the line was added or removed).
        public var configChanged: Bool
        /// Whether the cluster's hosts file was written or removed.
        public var hostsFileChanged: Bool
    }

    /// Writes the hosts file and makes sure `~/.ssh/config` includes it.
    @discardableResult
    public func install(cluster: String, hosts: String) throws -> Outcome {
        try ensureDirectory()
        let hostsPath = hostsPath(cluster: cluster)
        let previous = FileManager.default.contents(atPath: hostsPath)
        try AtomicFile.write(Array(hosts.utf8), to: hostsPath, mode: 0o600)
        let config = try resolvedConfigPath()
        let text = try read(config) ?? ""
        var changed = false
        if let updated = SSHConfigInclude.adding(SSHConfigInclude.line(cluster: cluster), to: text) {
            try AtomicFile.write(Array(updated.utf8), to: config, mode: try mode(of: config) ?? 0o600)
            changed = true
        }
        return Outcome(configChanged: changed, hostsFileChanged: previous != Data(hosts.utf8))
    }

    /// Takes the line out of `~/.ssh/config` and removes the hosts file; either may be missing.
    @discardableResult
    public func uninstall(cluster: String) throws -> Outcome {
        var changed = false
        let config = try resolvedConfigPath()
        if let text = try read(config),
           let updated = SSHConfigInclude.removing(SSHConfigInclude.line(cluster: cluster), from: text) {
            try AtomicFile.write(Array(updated.utf8), to: config, mode: try mode(of: config) ?? 0o600)
            changed = true
        }
        let hostsPath = hostsPath(cluster: cluster)
        var removed = false
        if unlink(hostsPath) == 0 {
            removed = true
        } else if errno != ENOENT {
            throw CloudcError(.io, "cannot remove \(hostsPath)", fix: "remove it by hand",
                              cause: String(cString: strerror(errno)))
        }
        return Outcome(configChanged: changed, hostsFileChanged: removed)
    }

    /// Rewrites the cluster's hosts file when it is installed (after a resize); leaves
    /// `~/.ssh/config` alone. Returns whether it was installed.
    @discardableResult
    public func refresh(cluster: String, hosts: String) throws -> Bool {
        guard isInstalled(cluster: cluster) else { return false }
        try AtomicFile.write(Array(hosts.utf8), to: hostsPath(cluster: cluster), mode: 0o600)
        return true
    }

    /// Whether the cluster's hosts file is there.
    public func isInstalled(cluster: String) -> Bool {
        FileManager.default.fileExists(atPath: hostsPath(cluster: cluster))
    }

    private func ensureDirectory() throws {
        var info = stat()
        if stat(sshDirectory, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw CloudcError(.io, "\(sshDirectory) exists but is not a directory", fix: "move it aside")
            }
            return
        }
        guard mkdir(sshDirectory, 0o700) == 0 || errno == EEXIST else {
            throw CloudcError(.io, "cannot create \(sshDirectory)", fix: "check the permissions of your home directory",
                              cause: String(cString: strerror(errno)))
        }
    }

    /// `~/.ssh/config`, or the file it links to.
    private func resolvedConfigPath() throws -> String {
        var path = configPath
        for _ in 0..<16 {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) else { return path }
            path = target.hasPrefix("/") ? target : (path as NSString).deletingLastPathComponent + "/" + target
        }
        throw CloudcError(.io, "\(configPath) is a chain of too many symbolic links", fix: "point it at a file")
    }

    private func read(_ path: String) throws -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CloudcError(.io, "cannot read \(path)", fix: "check its permissions")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CloudcError(.io, "\(path) is not UTF-8 text; cloudc leaves it alone",
                              fix: "add (or remove) cloudc's Include line at its top by hand")
        }
        return text
    }

    private func mode(of path: String) throws -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o7777
    }
}

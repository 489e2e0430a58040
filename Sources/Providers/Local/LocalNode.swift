import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where the local provider keeps a cluster's files:
///
/// ```
/// <root>/<cluster>-<incarnation>/
///   .lock                  held while node addresses are handed out
///   home/                  bind-mounted as /home on every node (the sharedDirectory resource)
///   nodes/<node>/
///     instance.json        the node's "tags": id, cluster, incarnation, group, node, token, address
///     upper/ work/         the overlay's writable layer and work folder
///     root/                the overlay (image below, upper above): the node's root file system
///     pid  log             systemd-nspawn's pid and output
/// ```
public struct LocalLayout: Sendable, Equatable {
    public let root: String
    public init(root: String) { self.root = root }

    public func clusterDirectory(cluster: String, incarnation: String) -> String { "\(root)/\(cluster)-\(incarnation)" }
    public func homeDirectory(cluster: String, incarnation: String) -> String { clusterDirectory(cluster: cluster, incarnation: incarnation) + "/home" }
    public func nodesDirectory(cluster: String, incarnation: String) -> String { clusterDirectory(cluster: cluster, incarnation: incarnation) + "/nodes" }
    func lockPath(cluster: String, incarnation: String) -> String { clusterDirectory(cluster: cluster, incarnation: incarnation) + "/.lock" }

    public func node(cluster: String, incarnation: String, node: String) -> NodeFiles {
        NodeFiles(directory: nodesDirectory(cluster: cluster, incarnation: incarnation) + "/" + node)
    }

    /// Every node folder under the root with its metadata, optionally of one cluster (and incarnation).
    func nodes(cluster: String? = nil, incarnation: String? = nil) -> [(files: NodeFiles, metadata: NodeMetadata)] {
        let files = FileManager.default
        var found: [(NodeFiles, NodeMetadata)] = []
        for entry in (try? files.contentsOfDirectory(atPath: root)) ?? [] {
            if let cluster {
                if let incarnation { guard entry == "\(cluster)-\(incarnation)" else { continue } }
                else { guard entry.hasPrefix(cluster + "-") else { continue } }
            }
            let nodesDir = root + "/" + entry + "/nodes"
            for name in (try? files.contentsOfDirectory(atPath: nodesDir)) ?? [] {
                let node = NodeFiles(directory: nodesDir + "/" + name)
                guard let metadata = node.readMetadata() else { continue }
                if let cluster, metadata.cluster != cluster { continue }
                if let incarnation, metadata.incarnation != incarnation { continue }
                found.append((node, metadata))
            }
        }
        return found.sorted { $0.1.id < $1.1.id }
    }
}

/// The files of one node.
public struct NodeFiles: Sendable, Equatable {
    public let directory: String
    public var metadataPath: String { directory + "/instance.json" }
    public var upper: String { directory + "/upper" }
    public var work: String { directory + "/work" }
    public var root: String { directory + "/root" }
    public var pidPath: String { directory + "/pid" }
    public var logPath: String { directory + "/log" }

    func readMetadata() -> NodeMetadata? {
        guard let data = FileManager.default.contents(atPath: metadataPath) else { return nil }
        return try? NodeMetadata.decoder.decode(NodeMetadata.self, from: data)
    }

    /// Replaces the metadata atomically (a reader never sees half a file).
    func writeMetadata(_ metadata: NodeMetadata) throws {
        let data = try NodeMetadata.encoder.encode(metadata)
        do {
            try data.write(to: URL(fileURLWithPath: metadataPath), options: .atomic)
        } catch {
            throw CloudcError(.io, "cannot write \(metadataPath)", cause: "\(error)")
        }
    }

    /// The systemd-nspawn pid recorded at boot, if that process still runs this node.
    func runningPID() -> pid_t? {
        guard let text = try? String(contentsOfFile: pidPath, encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1 else { return nil }
        return ProcessTable.isNspawn(pid, directory: root) ? pid : nil
    }
}

/// What the local provider records about one node: its "tags".
public struct NodeMetadata: Sendable, Codable, Equatable {
    public enum Phase: String, Sendable, Codable, Equatable {
        /// Folder made and address given; not yet booted.
        case preparing
        /// systemd-nspawn was started.
        case booted
        /// terminate began.
        case terminating
    }

    /// The instance id, also systemd-nspawn's machine name.
    public var id: String
    public var cluster: String
    public var incarnation: String
    public var group: String
    public var node: String
    public var launchToken: String
    /// The node's address on the cluster's bridge, with the prefix length (`10.77.3.10/24`).
    public var address: String
    public var bridge: String
    public var image: String
    public var phase: Phase
    public var createdAt: Date
    /// The node's SSH host public keys, read from its root right after they were made at boot
    /// (before anything on the network could answer for it).
    public var hostKeys: [String]?
    /// The cloudc process booting the node (pid and start time, so a reused pid is not taken for
    /// it): a node still `preparing` whose launcher is gone was cut short and will never boot.
    public var launcher: ProcessIdentity?

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    /// The address without its prefix length.
    public var ip: String { String(address.split(separator: "/").first ?? "") }
}

/// One process, told apart from a later one that reuses its pid by its start time.
public struct ProcessIdentity: Sendable, Codable, Equatable {
    public var pid: Int32
    /// Clock ticks after boot (field 22 of /proc/PID/stat).
    public var startTime: UInt64

    /// This process.
    public static var current: ProcessIdentity? {
        ProcessTable.startTime(getpid()).map { ProcessIdentity(pid: getpid(), startTime: $0) }
    }

    public var isAlive: Bool { ProcessTable.isAlive(pid) && ProcessTable.startTime(pid) == startTime }
}

/// Reading /proc: which processes run a node.
enum ProcessTable {
    /// Whether `pid` is a live (not zombie) systemd-nspawn booting `directory`.
    static func isNspawn(_ pid: pid_t, directory: String) -> Bool {
        guard isAlive(pid), let data = ProcFile.data("/proc/\(pid)/cmdline") else { return false }
        let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard let program = words.first, program.hasSuffix("systemd-nspawn") else { return false }
        return words.contains("--directory=" + directory)
    }

    /// When `pid` started, in clock ticks after boot; nil if there is no such process.
    static func startTime(_ pid: pid_t) -> UInt64? {
        guard let stat = ProcFile.text("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command's closing parenthesis start at field 3 (state); starttime is 22.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }

    /// Whether `pid` exists and is not a zombie.
    static func isAlive(_ pid: pid_t) -> Bool {
        guard let stat = ProcFile.text("/proc/\(pid)/stat"),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state != "Z" && state != "X"
    }

    /// Processes whose root directory is `directory`: a node's processes, seen from the host.
    /// Compared by device and inode, since inside the node's mount namespace
    /// `readlink /proc/PID/root` says only "/".
    static func processes(rootedAt directory: String) -> [pid_t] {
        var target = stat()
        guard stat(directory, &target) == 0 else { return [] }
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard let pid = pid_t(entry), pid > 1, pid != getpid() else { return nil }
            var info = stat()
            guard stat("/proc/\(entry)/root", &info) == 0, info.st_dev == target.st_dev, info.st_ino == target.st_ino else { return nil }
            return pid
        }
    }

    /// Whether `path` is a mount point (as /proc/mounts of this process's namespace lists it).
    static func isMountPoint(_ path: String) -> Bool {
        guard let text = ProcFile.text("/proc/self/mounts") else { return false }
        return text.split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            return fields.count > 1 && unescape(String(fields[1])) == path
        }
    }

    /// /proc/mounts writes space, tab, newline and backslash as octal escapes.
    static func unescape(_ field: String) -> String {
        field.replacingOccurrences(of: "\\040", with: " ").replacingOccurrences(of: "\\011", with: "\t")
            .replacingOccurrences(of: "\\012", with: "\n").replacingOccurrences(of: "\\134", with: "\\")
    }
}

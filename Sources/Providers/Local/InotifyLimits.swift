import CloudcCore
import Foundation

/// The kernel's inotify limits, which every local node draws on. Nodes run as root on this
/// machine's kernel (no user namespace), so systemd, journald, logind, udev and the rest of
/// every node count against root's `fs.inotify.max_user_instances` (128 on many machines): past
/// about ten nodes, systemd in the next one dies with "Too many open files". Before a launch,
/// `ensure` checks what the new nodes need on top of what root uses now, and raises the limits
/// (saying so) or, where it cannot, stops with the setting and the command that raises it.
public struct InotifyLimits: Sendable {
    /// Where `fs.inotify.*` and the processes are read (another root stands in for tests).
    public var sysctlDirectory = "/proc/sys/fs/inotify"
    public var procDirectory = "/proc"

    public init(sysctlDirectory: String = "/proc/sys/fs/inotify", procDirectory: String = "/proc") {
        self.sysctlDirectory = sysctlDirectory; self.procDirectory = procDirectory
    }

    /// What one node holds, with room to spare: a booted Debian 12 node with sshd, munge and
    /// slurmd held 7 instances and 26 watches (21 and 78 for three).
    static let instancesPerNode = 12
    static let watchesPerNode = 400
    /// Kept free for everything else root runs on the machine.
    static let headroom = (instances: 32, watches: 8192)

    struct Setting: Equatable {
        var name: String
        var limit: Int
        var used: Int
        var needed: Int
    }

    /// Makes room for `nodes` more nodes; returns the settings it raised.
    @discardableResult
    func ensure(nodes: Int, progress: any ProgressSink) throws -> [Setting] {
        guard nodes > 0 else { return [] }
        let instancesUsed = rootInstances()
        let settings = [
            Setting(name: "max_user_instances", limit: read("max_user_instances") ?? .max, used: instancesUsed,
                    needed: instancesUsed + nodes * Self.instancesPerNode + Self.headroom.instances),
            // Watches are not listed per process; count every node's share as used.
            Setting(name: "max_user_watches", limit: read("max_user_watches") ?? .max, used: 0,
                    needed: (instancesUsed / Self.instancesPerNode + nodes) * Self.watchesPerNode + Self.headroom.watches),
        ]
        var raised: [Setting] = []
        for setting in settings where setting.needed > setting.limit {
            // Round up to a power of two: the next launch of a few nodes need not raise it again.
            var value = 1
            while value < setting.needed { value *= 2 }
            let path = sysctlDirectory + "/" + setting.name
            do {
                try (String(value) + "\n").write(toFile: path, atomically: false, encoding: .utf8)
            } catch {
                throw CloudcError(.unsupported,
                                  "\(nodes) more local node(s) need about \(setting.needed) inotify \(setting.name == "max_user_instances" ? "instances" : "watches") of root, "
                                      + "and fs.inotify.\(setting.name) is \(setting.limit) (systemd in the nodes would fail with \"Too many open files\"); cloudc could not raise it",
                                  fix: "raise it as root: sysctl -w fs.inotify.\(setting.name)=\(value) (and put the line fs.inotify.\(setting.name)=\(value) "
                                      + "in /etc/sysctl.d/90-cloudc.conf to keep it), or start fewer nodes",
                                  cause: "\(error)")
            }
            progress.report("Raised fs.inotify.\(setting.name) from \(setting.limit) to \(value) for \(nodes) more node(s) (until reboot; "
                            + "keep it with fs.inotify.\(setting.name)=\(value) in /etc/sysctl.d/)")
            raised.append(Setting(name: setting.name, limit: value, used: setting.used, needed: setting.needed))
        }
        return raised
    }

    func read(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: sysctlDirectory + "/" + name, encoding: .utf8) else { return nil }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The inotify instances root's processes hold now (an instance shared by several
    /// descriptors counts for each: the estimate errs high).
    func rootInstances() -> Int {
        let files = FileManager.default
        var count = 0
        for entry in (try? files.contentsOfDirectory(atPath: procDirectory)) ?? [] where Int(entry) != nil {
            guard effectiveUserID(procDirectory + "/" + entry) == 0 else { continue }
            let fds = procDirectory + "/" + entry + "/fd"
            for fd in (try? files.contentsOfDirectory(atPath: fds)) ?? [] {
                if (try? files.destinationOfSymbolicLink(atPath: fds + "/" + fd)) == "anon_inode:inotify" { count += 1 }
            }
        }
        return count
    }

    /// The second field of `Uid:` in a process's status.
    func effectiveUserID(_ process: String) -> Int? {
        guard let status = ProcFile.text(process + "/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }) else { return nil }
        let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
        return fields.count > 2 ? Int(fields[2]) : nil
    }
}

import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Each node's own control group. systemd-nspawn, started without a scope of its own
/// (`--register=no --keep-unit`, as there may be no machined), puts the container's systemd in
/// `payload/` under the cgroup it was started in. Nodes started from one process would then share
/// that cgroup, and each node's systemd would manage the others' services too: one node starting
/// munge killed munge on the others (`status=219/CGROUP`). So the daemon that becomes
/// systemd-nspawn first moves itself into `cloudc/<machine>` in each hierarchy systemd uses.
public enum NodeCgroup {
    /// The folder, relative to each hierarchy's mount point, of the node whose machine name is `machine`.
    public static func relativePath(_ machine: String) -> String { "cloudc/" + machine }

    /// Where the cgroup hierarchies systemd uses are mounted: every cgroup2 mount and a v1 mount
    /// with `name=systemd` (hybrid and legacy hosts), from a mountinfo text.
    public static func hierarchies(mountinfo: String) -> [String] {
        mountinfo.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ").map(String.init)
            guard let dash = fields.firstIndex(of: "-"), dash >= 5, fields.count > dash + 3 else { return nil }
            let type = fields[dash + 1]
            let options = fields[dash + 3].split(separator: ",")
            guard type == "cgroup2" || (type == "cgroup" && options.contains("name=systemd")) else { return nil }
            return ProcessTable.unescape(fields[4])
        }
    }

    /// The hierarchies of this machine.
    public static func hierarchies() -> [String] {
        hierarchies(mountinfo: ProcFile.text("/proc/self/mountinfo") ?? "")
    }

    /// Removes the node's cgroups once nothing runs in them: the folders systemd made inside,
    /// deepest first, then the node's, then `cloudc/` if no other node is left. Waits up to
    /// `timeout` for processes that are being killed to leave them.
    static func remove(_ machine: String, timeout: Double = 5) async {
        for mount in hierarchies() {
            let top = mount + "/" + relativePath(machine)
            let deadline = Date().addingTimeInterval(timeout)
            while FileManager.default.fileExists(atPath: top) {
                for folder in folders(under: top) { rmdir(folder) }
                if !FileManager.default.fileExists(atPath: top) || Date() > deadline { break }
                try? await Task.sleep(nanoseconds: 100_000_000)
            }
            rmdir(mount + "/cloudc")
        }
    }

    /// `top` and every folder below it, deepest first.
    static func folders(under top: String) -> [String] {
        var found = [top]
        var index = 0
        while index < found.count {
            let folder = found[index]
            index += 1
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
                var info = stat()
                let path = folder + "/" + entry
                if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { found.append(path) }
            }
        }
        return found.reversed()
    }
}

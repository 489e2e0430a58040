import CloudcCore

/// A cluster block for ClusterJob (`cj`, by Hatef Monajemi), to add to the `ssh_config` file in
/// its install folder (e.g. `~/CJ_install/ssh_config`): ClusterJob finds a cluster by the text
/// between two `[alias]` lines and reads `Key<blanks>value` lines from it without regard to case
/// (`Host`, `User`, `Bqs`, `Alloc`, `Repo`; also `MAT`, `Python`, `R` and their `…lib`s, which
/// only its MATLAB, Python and R installers need, left out here).
///
/// ClusterJob logs in with the system `ssh User@Host`, so `Host` is the cluster's SSH alias
/// (the frontend), which `cloudc ssh-config --install` defines with the cluster's key and pinned
/// host keys. `Repo`, where it unpacks jobs, is under `/home`, which every node shares, so jobs
/// on compute nodes see it. `Alloc` sends jobs to the default partition; `cj parrun … -alloc`
/// overrides it per run.
public enum ClusterJobFormat {
    public static func render(_ handoff: Handoff) -> String {
        var lines = [
            "[\(handoff.name)]",
            "Host\t\(handoff.name)",
            "User\t\(handoff.user)",
            "Bqs\tSLURM",
        ]
        if let partition = handoff.defaultPartition {
            lines.append("Alloc\t-p \(partition)")
        }
        lines.append("Repo\t\(repo(user: handoff.user))")
        lines.append("[\(handoff.name)]")
        return lines.joined(separator: "\n") + "\n"
    }

    /// ClusterJob's customary remote folder, on the shared `/home` (also for root, whose own
    /// home is not shared).
    static func repo(user: String) -> String { "/home/\(user)/CJRepo_Remote" }
}

import CloudcCore

/// An Ansible inventory in INI form: one group per node group (`-` becomes `_`, as Ansible wants
/// group names to be identifiers), and `[<cluster>:children]` holding them all.
///
/// Every host carries what it takes to log in without any other SSH config: `ansible_host`,
/// `ansible_user`, the login's key, and `ansible_ssh_common_args` with the cluster's own
/// known_hosts and `StrictHostKeyChecking=yes`. Nodes other than the frontend are reached at their
/// private address through the frontend with a `ProxyCommand` that carries the same key and
/// known_hosts (a `ProxyJump` host would be logged into with the user's default SSH settings
/// instead).
///
/// Quoting has three layers: the INI host line is split like a shell line, Ansible splits
/// `ansible_ssh_common_args` again, and ssh runs `ProxyCommand` through `/bin/sh`.
public enum AnsibleInventoryFormat {
    public static func render(_ handoff: Handoff) -> String {
        let nodeGroups = handoff.groupNames
        let groupName = groupNames(cluster: handoff.name, groups: nodeGroups)
        var lines = [
            "# Ansible inventory of cloudc cluster \(handoff.name), written by `cloudc export --format ansible-inventory`.",
            "# One group per node group; [\(groupName.cluster)] holds them all. Nodes behind the frontend are reached through it.",
        ]
        let frontend = handoff.frontend.flatMap { $0.isReady ? $0 : nil }
        for group in nodeGroups {
            lines += ["", "[\(groupName.groups[group] ?? group)]"]
            for node in handoff.orderedNodes where node.group == group {
                guard node.isReady, let address = handoff.connectAddress(of: node) else {
                    lines.append("# \(node.name): not running (\(node.state.rawValue)), left out")
                    continue
                }
                if handoff.isBehindFrontend(node) && frontend == nil {
                    lines.append("# \(node.name): left out, the frontend is not running to reach it through")
                    continue
                }
                var sshOptions = commonOptions(handoff, escapes: 1)
                if handoff.isBehindFrontend(node), let frontend, let jumpAddress = handoff.connectAddress(of: frontend) {
                    // ssh expands %-tokens in ProxyCommand, then the inner ssh in its own paths again.
                    let jump = ["ssh", "-i", escaping(handoff.privateKey, 2), "-o", "IdentitiesOnly=yes"]
                        + commonOptions(handoff, escapes: 2) + ["-W", "%h:%p", "\(handoff.user)@\(jumpAddress)"]
                    sshOptions += ["-o", "ProxyCommand=" + jump.map(Shell.quote).joined(separator: " ")]
                } else if let jump = handoff.ownJump {
                    sshOptions += ["-J", jump]
                }
                var variables = [
                    ("ansible_host", address),
                    ("ansible_user", handoff.user(of: node)),
                    ("ansible_ssh_private_key_file", escaping(handoff.privateKey(of: node), 1)),   // Ansible passes it as -o IdentityFile
                    ("ansible_ssh_common_args", sshOptions.map(Shell.quote).joined(separator: " ")),
                ]
                if handoff.port(of: node) != 22 { variables.insert(("ansible_port", String(handoff.port(of: node))), at: 1) }
                lines.append(([node.name] + variables.map { "\($0.0)=\(iniQuote($0.1))" }).joined(separator: " "))
            }
        }
        lines += ["", "[\(groupName.cluster):children]"] + nodeGroups.map { groupName.groups[$0] ?? $0 }
        return lines.joined(separator: "\n") + "\n"
    }

    static func commonOptions(_ handoff: Handoff, escapes: Int) -> [String] {
        ["-o", "UserKnownHostsFile=\(escaping(handoff.knownHosts, escapes))",
         "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes"]
    }

    /// A path with its `%` doubled once per %-token expansion it goes through.
    static func escaping(_ path: String, _ times: Int) -> String {
        (0..<times).reduce(path) { text, _ in SSHConfigFormat.escapingTokens(text) }
    }

    /// Ansible group names: identifiers (`-` → `_`). The cluster's group gets a `cloudc_` prefix
    /// where it would clash with a node group; node groups that clash with Ansible's own `all`
    /// and `ungrouped` get the cluster's name in front.
    static func groupNames(cluster: String, groups: [String]) -> (cluster: String, groups: [String: String]) {
        func identifier(_ name: String) -> String { name.replacingOccurrences(of: "-", with: "_") }
        let clusterID = identifier(cluster)
        var mapped: [String: String] = [:]
        for group in groups {
            let id = identifier(group)
            mapped[group] = ["all", "ungrouped"].contains(id) ? "\(clusterID)_\(id)" : id
        }
        let clusterGroup = Set(mapped.values).contains(clusterID) || ["all", "ungrouped"].contains(clusterID)
            ? "cloudc_\(clusterID)" : clusterID
        return (clusterGroup, mapped)
    }

    /// A value on an INI host line (split by Ansible like a shell line): bare when safe, in double
    /// quotes when it holds no `"` or `\` (easier to read around the single quotes inside),
    /// else single-quoted.
    static func iniQuote(_ value: String) -> String {
        if Shell.quote(value) == value { return value }
        if !value.contains("\"") && !value.contains("\\") { return "\"\(value)\"" }
        return Shell.quote(value)
    }
}

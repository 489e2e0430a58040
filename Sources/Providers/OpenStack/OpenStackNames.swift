/// The names, metadata and descriptions that tie OpenStack resources to a cluster.
///
/// Nova has no idempotency token, so a node's server is found again by its metadata
/// (`cloudc-cluster`, `cloudc-incarnation`, `cloudc-node`); a floating IP by its description.
enum OpenStackNames {
    /// The server's name (and so the VM's hostname before setup renames it): `demo-compute001`.
    static func serverName(cluster: String, node: String) -> String { "\(cluster)-\(node)" }

    /// Nova's `name` filter is a regular expression: every server whose name starts with the cluster's.
    static func serverNameFilter(cluster: String) -> String {
        "^" + regexEscape(cluster) + "-"
    }

    /// The key pair and the security group of one start of a cluster.
    static func accessName(cluster: String, incarnation: String) -> String { "cloudc-\(cluster)-\(incarnation)" }

    /// The security group that lets SSH in from ssh_from, for the frontend only.
    static func sshGroupName(_ accessName: String) -> String { accessName + "-ssh" }

    /// The description of a node's floating IP: `cloudc-demo-1a2b3c4d/compute001`.
    static func floatingIPDescription(cluster: String, incarnation: String, node: String) -> String {
        floatingIPPrefix(accessName: accessName(cluster: cluster, incarnation: incarnation)) + node
    }

    /// What the descriptions of all floating IPs of one start of a cluster begin with.
    static func floatingIPPrefix(accessName: String) -> String { accessName + "/" }

    /// The server metadata of a node.
    static func metadata(cluster: String, incarnation: String, group: String, node: String, token: String) -> [String: String] {
        ["cloudc-cluster": cluster, "cloudc-incarnation": incarnation, "cloudc-group": group,
         "cloudc-node": node, "cloudc-launch": token]
    }

    /// Escapes regular-expression metacharacters (Python's `re` syntax, which Nova uses).
    static func regexEscape(_ text: String) -> String {
        var out = ""
        for character in text {
            if "\\^$.|?*+()[]{}".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }
}

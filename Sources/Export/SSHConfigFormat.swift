import CloudcCore

/// An OpenSSH client config (`ssh_config(5)`) for a cluster: one `Host <cluster>-<node>` block
/// per running node, the frontend also as `Host <cluster>`. Every block uses the login's key
/// and the cluster's own known_hosts with `StrictHostKeyChecking yes`, so the system `ssh`
/// trusts exactly the host keys cloudc pinned. Nodes other than the frontend are reached at
/// their private address through the frontend (`ProxyJump`), as cloudc reaches them. The user's
/// own machines are each reached at their address, port, user and key (through the cloud's
/// `jump:` host where it names one).
///
/// Works with `ssh -F FILE`, or from `~/.ssh/config` through `cloudc ssh-config --install`.
public enum SSHConfigFormat {
    public static func render(_ handoff: Handoff) -> String {
        var lines = [
            "# SSH config of cloudc cluster \(handoff.name), written by cloudc (`cloudc ssh-config \(handoff.name)`).",
            "# `ssh \(handoff.name)` logs into the frontend; `ssh \(handoff.name)-NODE` into a node, through the frontend.",
            "# Host keys: the ones cloudc pinned on first contact (\(handoff.knownHosts)).",
        ]
        let frontend = handoff.frontend.flatMap { $0.isReady ? $0 : nil }
        for node in handoff.orderedNodes {
            guard node.isReady, let address = handoff.connectAddress(of: node) else {
                lines += ["", "# \(handoff.alias(of: node)): not running (\(node.state.rawValue)), left out"]
                continue
            }
            let isFrontend = handoff.isFrontend(node)
            if handoff.isBehindFrontend(node) && frontend == nil {
                lines += ["", "# \(handoff.alias(of: node)): left out, the frontend is not running to reach it through"]
                continue
            }
            lines.append("")
            lines.append(isFrontend ? "Host \(handoff.name) \(handoff.alias(of: node))" : "Host \(handoff.alias(of: node))")
            lines.append("    HostName \(address)")
            if handoff.port(of: node) != 22 { lines.append("    Port \(handoff.port(of: node))") }
            if handoff.isBehindFrontend(node), let frontend {
                lines.append("    ProxyJump \(handoff.alias(of: frontend))")
            } else if let jump = handoff.ownJump {
                lines.append("    ProxyJump \(jump)")
            }
            lines += [
                "    User \(argument(handoff.user(of: node)))",
                "    IdentityFile \(argument(escapingTokens(handoff.privateKey(of: node))))",
                "    IdentitiesOnly yes",
                "    UserKnownHostsFile \(argument(escapingTokens(handoff.knownHosts)))",
                "    GlobalKnownHostsFile /dev/null",
                "    StrictHostKeyChecking yes",
            ]
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// An argument as ssh_config reads it: in double quotes when it holds blanks.
    static func argument(_ value: String) -> String {
        value.contains(where: { $0 == " " || $0 == "\t" }) ? "\"\(value)\"" : value
    }

    /// `%` starts a token in IdentityFile and UserKnownHostsFile (`%d`, `%u`, …): a literal one is `%%`.
    static func escapingTokens(_ path: String) -> String {
        path.replacingOccurrences(of: "%", with: "%%")
    }
}

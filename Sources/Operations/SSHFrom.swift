import CloudcCore
import Foundation
import Lifecycle

/// The one rule for where SSH is let in from. Never the whole internet by default.
public enum SSHFrom {
    /// For a start: the address the cluster recorded, else the template's `ssh_from`, else (local
    /// nodes, on a bridge only this machine reaches) this machine, else the caller's public
    /// address, looked up; over a private network (`reach: private`) the template must say.
    public static func resolve(recorded: String?, spec: ClusterSpec, progress: any ProgressSink,
                               lookUp: @Sendable (String) async throws -> String) async throws -> String {
        if let recorded { return recorded }
        if let configured = spec.sshFrom { return configured }
        if spec.cloud.provider == .local { return "127.0.0.1/32" }
        // Own machines: cloudc opens no firewall there; their own rules stay as they are.
        if spec.cloud.provider == .ssh { return "0.0.0.0/0" }
        if spec.reach == .privateNetwork {
            // This machine's public address is not where it comes from over a VPN or a bastion.
            throw CloudcError(.config, "cluster template \(spec.template) is reached over cloud \(spec.cloud.name)'s private network "
                                  + "(reach: private), and cloudc cannot tell which addresses its SSH comes from there",
                              fix: "set ssh_from: in the template to the range this machine's connections come from "
                                  + "(the VPN's or the bastion's, e.g. ssh_from: 10.8.0.0/16)")
        }
        progress.report("Finding your public address to allow SSH from it (set ssh_from: to skip)…")
        return try await lookUp(spec.template)
    }

    /// For a resize: only the address `start` recorded; a state without one is an error that
    /// says how to record one.
    public static func recorded(_ state: ClusterState) throws -> String {
        try ClusterLifecycle.recordedSSHFrom(state)
    }
}

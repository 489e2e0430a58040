import CloudcCore
import Foundation
import Planner
import State

/// Growing and shrinking a group. The caller holds the cluster's lock for the whole resize
/// (drain, setup and deletion belong together), so these take the loaded state.
extension ClusterLifecycle {
    /// Raises `group` to `count` nodes: the new count is recorded first, then the missing
    /// nodes are launched (idempotently, as in start) and awaited.
    public func grow(_ state: inout ClusterState, group: String, to count: Int, publicKey: String) async throws {
        guard let index = state.spec.groups.firstIndex(where: { $0.name == group }) else {
            throw CloudcError(.usage, "cluster \(state.name) has no group '\(group)'")
        }
        let sshFrom = try Self.recordedSSHFrom(state)
        state.spec.groups[index].count = count
        state.setupCompletedAt = nil
        try store.save(state)
        let access = AccessRequest(cluster: state.name, incarnation: state.incarnation,
                                   sshFrom: sshFrom, publicKey: publicKey, loginUser: state.spec.login.user)
        try await createResources(&state, access: access)
        try await createNodes(&state, access: access)
        try await waitUntilRunning(&state)
        try await attachPublicAddresses(&state)
        try await recordHostKeys(&state)
        try store.save(state)
    }

    /// The address SSH is let in from, as `start` recorded it. Never the whole internet by default:
    /// a state without one is an error that says how to record one.
    public static func recordedSSHFrom(_ state: ClusterState) throws -> String {
        guard let sshFrom = state.spec.sshFrom else {
            throw CloudcError(.state, "the state of cluster \(state.name) records no ssh_from address to let SSH in from",
                              fix: "run cloudc start \(state.spec.template) -n \(state.name) again (it records one), or set ssh_from: in its template")
        }
        return sshFrom
    }

    /// Deletes `nodes` of `group`: the smaller count is recorded first (so a crash here leaves
    /// them as strays that the next start terminates), then they are terminated and awaited.
    public func shrink(_ state: inout ClusterState, group: String, removing nodes: [NodeRecord]) async throws {
        guard let index = state.spec.groups.firstIndex(where: { $0.name == group }) else {
            throw CloudcError(.usage, "cluster \(state.name) has no group '\(group)'")
        }
        let names = Set(nodes.map(\.name))
        // What the group keeps: its nodes but these (a run again after an interruption must
        // not take them off the count twice).
        state.spec.groups[index].count = state.nodes.filter { $0.group == group && !names.contains($0.name) }.count
        try store.save(state)
        let ids = Set(nodes.compactMap(\.instanceID))
        progress.report("Deleting \(nodes.map(\.name).sorted().joined(separator: ", "))")
        if !ids.isEmpty { try await provider.terminate(ids.sorted()) }
        let gone: Bool? = try await waiting.poll {
            let alive = try await provider.instances(cluster: state.name, incarnation: state.incarnation)
                .filter { $0.state.isLive && ids.contains($0.id) }
            return alive.isEmpty ? true : nil
        }
        guard gone == true else {
            throw CloudcError(.timeout, "\(nodes.map(\.name).joined(separator: ", ")) did not terminate within \(Int(waiting.timeout)) s",
                              fix: "run `cloudc start \(state.spec.template) -n \(state.name)`: it terminates nodes the cluster no longer has")
        }
        state.nodes.removeAll { names.contains($0.name) }
        try store.save(state)
    }
}

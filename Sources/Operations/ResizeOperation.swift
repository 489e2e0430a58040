import CloudcCore
import Configurator
import Foundation
import Lifecycle
import Planner

/// What a resize ended with.
public struct ResizeOutcome: Sendable {
    public var state: ClusterState
    /// The nodes of the group resized, now.
    public var count: Int
}

/// A resize from its record to its end. `resize` records what it will do before it changes
/// anything, then carries it out; a later `resize`, `start` or `setup` that finds a record left by
/// an interrupted one carries that out first, so the cluster reaches the size first asked for,
/// every node configured, and nothing is done twice.
extension Operations {
    /// `cloudc resize NAME ±N GROUP`. Holds the lock throughout: drain, setup and deletion belong together.
    public func resize(name: String, group: String, delta: Int, force: Bool, command: String) async throws -> ResizeOutcome {
        try await store.withLock(name, command: command) {
            var state = try loadState(name)
            let provider = try clouds.provider(clouds.cloudOf(state))
            let count = { (state: ClusterState) in state.nodes.filter { $0.group == group }.count }
            if let interrupted = try await finishInterruptedResize(&state, provider: provider),
               interrupted.group == group, interrupted.delta == delta {
                // The same command again: its retry, finished above, not a second resize.
                progress.report("That was this resize: it is done now, and not repeated")
                return ResizeOutcome(state: state, count: count(state))
            }
            let plan = try Planner.planResize(spec: state.spec, state: state, group: group, delta: delta)
            // Nothing is recorded that cannot be carried out: a grow needs the recorded ssh_from.
            if delta > 0 {
                _ = try SSHFrom.recorded(state)
                if let spec = state.spec.group(named: group) { try await provider.validateGrowth(of: spec, by: delta, cluster: name) }
            }
            // A cluster left unconfigured (start --no-setup) stays so; a configured one is kept configured.
            let configured = state.spec.setup != nil && state.setupCompletedAt != nil
            let record = ResizeRecord(group: group, delta: delta, count: plan.newCount, removing: plan.remove.map(\.name),
                                      force: force, configured: configured, startedAt: Date())
            if delta > 0 { progress.report("Adding \(plan.add.joined(separator: ", ")) to \(name)") }
            state.resize = record
            try store.save(state)
            try await carryOut(record, &state, provider: provider)
            return ResizeOutcome(state: state, count: count(state))
        }
    }

    /// Finishes the resize an interrupted command left, if any; returns it when there was one.
    /// The caller holds the lock.
    @discardableResult
    func finishInterruptedResize(_ state: inout ClusterState, provider: any CloudProvider) async throws -> ResizeRecord? {
        guard let record = state.resize else { return nil }
        let began = record.startedAt.formatted(.iso8601)
        progress.report("Finishing the interrupted `cloudc \(record.summary)` of \(state.name) (begun \(began)): "
                        + "\(record.group) to \(record.count) node(s)")
        try await carryOut(record, &state, provider: provider)
        return record
    }

    /// Does what `record` says, each step safe to repeat, and clears it.
    func carryOut(_ record: ResizeRecord, _ state: inout ClusterState, provider: any CloudProvider) async throws {
        let lifecycle = self.lifecycle(provider)
        if record.delta > 0 {
            try await lifecycle.grow(&state, group: record.group, to: record.count, publicKey: try publicKey(for: state.spec))
            Failpoint.kill(at: "resize.before-setup")
            if record.configured { try await runSetup(&state, traits: provider.traits) }
        } else {
            let removing = state.nodes.filter { record.removing.contains($0.name) }
            let names = removing.map(\.name).sorted()
            if record.configured, !names.isEmpty, let frontend = state.frontend {
                try await withSession(to: frontend, of: state) { session in
                    let slurm = SlurmControl(frontend: session, sudo: (frontend.login?.user ?? state.spec.login.user) != "root")
                    // Run again, some of them may already be out of slurm.conf.
                    let listed = try await slurm.knownNodes().intersection(names).sorted()
                    if !listed.isEmpty {
                        progress.report("Draining \(listed.joined(separator: ", ")) in SLURM")
                        try await slurm.drain(listed, reason: "cloudc resize")
                        Failpoint.kill(at: "resize.after-drain")
                        if !record.force { try await slurm.waitForJobs(on: listed, progress: progress) }
                    }
                }
                // SLURM forgets the nodes before they go.
                try await runSetup(&state, traits: provider.traits, excluding: Set(names))
                Failpoint.kill(at: "resize.before-delete")
            }
            let before = state
            try await lifecycle.shrink(&state, group: record.group, removing: removing)
            try forgetReplacedNodes(before: before, after: state)
            if record.configured { state.setupCompletedAt = Date() }
        }
        state.resize = nil
        try store.save(state)
    }
}

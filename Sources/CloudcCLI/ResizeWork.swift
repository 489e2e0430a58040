import CloudcCore
import Configurator
import Foundation
import Lifecycle

/// A resize from its record to its end. `resize` records what it will do before it changes
/// anything, then carries it out; a later `resize`, `start` or `setup` that finds a record left by
/// an interrupted one carries that out first, so the cluster reaches the size first asked for,
/// every node configured, and nothing is done twice. Called holding the cluster's lock.
extension Wiring {
    /// Finishes the resize an interrupted command left, if any; returns it when there was one.
    @discardableResult
    func finishInterruptedResize(_ state: inout ClusterState) async throws -> ResizeRecord? {
        guard let record = state.resize else { return nil }
        let began = record.startedAt.formatted(.iso8601)
        progress.report("Finishing the interrupted `cloudc \(record.summary)` of \(state.name) (begun \(began)): "
                        + "\(record.group) to \(record.count) node(s)")
        try await carryOut(record, &state)
        return record
    }

    /// Does what `record` says, each step safe to repeat, and clears it.
    func carryOut(_ record: ResizeRecord, _ state: inout ClusterState) async throws {
        let lifecycle = try self.lifecycle(for: cloudSpec(for: state))
        if record.delta > 0 {
            try await lifecycle.grow(&state, group: record.group, to: record.count, publicKey: try readPublicKey(state.spec.login))
            Failpoint.kill(at: "resize.before-setup")
            if record.configured { try await runSetup(&state) }
        } else {
            let removing = state.nodes.filter { record.removing.contains($0.name) }
            let names = removing.map(\.name).sorted()
            if record.configured, !names.isEmpty, let frontend = state.frontend {
                try await withSession(to: frontend, of: state) { session in
                    let slurm = SlurmControl(frontend: session, sudo: state.spec.login.user != "root")
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
                try await runSetup(&state, excluding: Set(names))
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

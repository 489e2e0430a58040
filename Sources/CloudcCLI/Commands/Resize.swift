import ArgumentParser
import CloudcCore
import Configurator
import Foundation
import Lifecycle
import Planner

struct Resize: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add or remove nodes of a group: `cloudc resize +4 gpu`, `cloudc resize mycluster -1 compute`.",
        discussion: """
        New nodes are configured and SLURM takes them at once. Nodes to remove are drained in SLURM \
        first; cloudc waits for their running jobs unless --force, then deletes them. A group never \
        shrinks below its `min`.
        """)

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Remove nodes without waiting for the jobs running on them.")
    var force = false

    @Argument(parsing: .allUnrecognized, help: "[NAME] +N|-N GROUP")
    var words: [String] = []

    /// `[NAME] ±N GROUP`; "-1" must not be taken for an option, hence the raw words.
    static func parse(_ words: [String]) throws -> (name: String?, delta: Int, group: String) {
        let usage = CloudcError(.usage, "resize takes [NAME] +N|-N GROUP, got: \(words.joined(separator: " "))",
                                fix: "e.g. cloudc resize +4 gpu, or cloudc resize mycluster -1 compute")
        guard words.count == 2 || words.count == 3 else { throw usage }
        let countWord = words[words.count - 2]
        guard let sign = countWord.first, sign == "+" || sign == "-", let n = Int(countWord.dropFirst()), n > 0 else {
            throw usage
        }
        return (words.count == 3 ? words[0] : nil, sign == "+" ? n : -n, words[words.count - 1])
    }

    func run() async throws {
        let (given, delta, group) = try Self.parse(words)
        let wiring = Wiring(global)
        let context = wiring.context
        let name = try wiring.clusterName(given)
        let began = Date()
        let count = try await wiring.store.withLock(name, command: "cloudc resize \(name) \(delta > 0 ? "+" : "")\(delta) \(group)") {
            var state = try wiring.loadState(name)
            let count = { (state: ClusterState) in state.nodes.filter { $0.group == group }.count }
            if let interrupted = try await wiring.finishInterruptedResize(&state),
               interrupted.group == group, interrupted.delta == delta {
                // The same command again: its retry, finished above, not a second resize.
                wiring.progress.report("That was this resize: it is done now, and not repeated")
                for line in NodeTable.render(state.nodes) { context.print(line) }
                return count(state)
            }
            let plan = try Planner.planResize(spec: state.spec, state: state, group: group, delta: delta)
            // Nothing is recorded that cannot be carried out: a grow needs the recorded ssh_from.
            if delta > 0 { _ = try ClusterLifecycle.recordedSSHFrom(state) }
            // A cluster left unconfigured (start --no-setup) stays so; a configured one is kept configured.
            let configured = state.spec.setup != nil && state.setupCompletedAt != nil
            let record = ResizeRecord(group: group, delta: delta, count: plan.newCount, removing: plan.remove.map(\.name),
                                      force: force, configured: configured, startedAt: Date())
            if delta > 0 { wiring.progress.report("Adding \(plan.add.joined(separator: ", ")) to \(name)") }
            state.resize = record
            try wiring.store.save(state)
            try await wiring.carryOut(record, &state)
            for line in NodeTable.render(state.nodes) { context.print(line) }
            return count(state)
        }
        context.note(String(format: "Resized %@: group %@ has %d node(s) (%.1f s).",
                            name, group, count, Date().timeIntervalSince(began)))
        wiring.refreshInstalledSSHConfig(of: name)
    }
}

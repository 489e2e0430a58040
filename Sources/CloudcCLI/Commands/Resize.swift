import ArgumentParser
import CloudcCore
import Configurator
import Foundation
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
            let plan = try Planner.planResize(spec: state.spec, state: state, group: group, delta: delta)
            let lifecycle = try wiring.lifecycle(for: wiring.cloudSpec(for: state))
            // A cluster left unconfigured (start --no-setup) stays so; a configured one is kept configured.
            let configured = state.spec.setup != nil && state.setupCompletedAt != nil
            if delta > 0 {
                wiring.progress.report("Adding \(plan.add.joined(separator: ", ")) to \(name)")
                try await lifecycle.grow(&state, group: group, to: plan.newCount, publicKey: try wiring.readPublicKey(state.spec.login))
                if configured { try await wiring.runSetup(&state) }
            } else {
                let names = plan.remove.map(\.name)
                if configured, let frontend = state.frontend {
                    let session = try await wiring.session(to: frontend, of: state)
                    let slurm = SlurmControl(frontend: session, sudo: state.spec.login.user != "root")
                    do {
                        wiring.progress.report("Draining \(names.joined(separator: ", ")) in SLURM")
                        try await slurm.drain(names, reason: "cloudc resize")
                        if !force { try await slurm.waitForJobs(on: names, progress: wiring.progress) }
                        await session.close()
                    } catch {
                        await session.close()
                        throw error
                    }
                    // SLURM forgets the nodes before they go.
                    try await wiring.runSetup(&state, excluding: Set(names))
                }
                let before = state
                try await lifecycle.shrink(&state, group: group, removing: plan.remove)
                try wiring.forgetReplacedNodes(before: before, after: state)
                if configured {
                    state.setupCompletedAt = Date()
                    try wiring.store.save(state)
                }
            }
            for line in NodeTable.render(state.nodes) { context.print(line) }
            return state.nodes.filter { $0.group == group }.count
        }
        context.note(String(format: "Resized %@: group %@ has %d node(s) (%.1f s).",
                            name, group, count, Date().timeIntervalSince(began)))
        wiring.refreshInstalledSSHConfig(of: name)
    }
}

import ArgumentParser
import CloudcCore
import Foundation
import Operations

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

    @Flag(help: "Check what the resize would add against the cloud with read-only calls, print it, and change nothing.")
    var dryRun = false

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
        let command = "cloudc resize \(name) \(delta > 0 ? "+" : "")\(delta) \(group)"
        if dryRun {
            let (plan, removing) = try await wiring.operations.planResize(name: name, group: group, delta: delta)
            if delta < 0 {
                context.print("Dry run of \(command): nothing was changed.")
                context.print("It would drain \(removing.joined(separator: ", ")) in SLURM, wait for their jobs"
                              + (force ? " (no: --force)" : "") + ", and delete them.")
                return
            }
            let state = try wiring.loadState(name)
            let groups = state.spec.groups.map { spec in
                (group: spec, count: state.nodes.filter { $0.group == spec.name }.count + (spec.name == group ? delta : 0))
            }
            for line in DryRunReport.lines(plan, command: command, costs: wiring.costs(for: state.spec.cloud), cluster: groups) {
                context.print(line)
            }
            return
        }
        let began = Date()
        let outcome = try await wiring.operations.resize(
            name: name, group: group, delta: delta, force: force, command: command)
        for line in NodeTable.render(outcome.state.nodes) { context.print(line) }
        let count = outcome.count
        context.note(String(format: "Resized %@: group %@ has %d node(s) (%.1f s).",
                            name, group, count, Date().timeIntervalSince(began)))
        wiring.refreshInstalledSSHConfig(of: name)
    }
}

import ArgumentParser
import CloudcCore
import Executors
import Foundation
import Operations

struct HarvestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "harvest",
        abstract: "Copy a run's outputs back, and join one of its files across tasks into one table.",
        discussion: """
        cloudc harvest [NAME] RUN [--into DIR] [--collect results.csv]
        Each task's folder (its outputs, stdout, stderr, exit, values.json) lands in DIR/<task>/ (default: ./RUN).
        --collect FILE joins every task's FILE (a CSV with a header) into DIR/FILE, with the task and its grid
        values as the first columns. Failed tasks are listed with their last stderr lines; run them again
        with: cloudc submit --rerun RUN
        """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The cluster (optional), then the run (a unique prefix of its id).")
    var words: [String] = []

    @Option(help: "Where the outputs go (default: ./RUN).")
    var into: String?

    @Option(help: "A CSV file every task writes, to join into one table.")
    var collect: String?

    @Option(help: "How many stderr lines to show per failed task.")
    var lines = 5

    func validate() throws {
        if words.isEmpty { throw ValidationError("name the run: cloudc harvest RUN (see cloudc jobs)") }
    }

    func run() async throws {
        let wiring = Wiring(global)
        let (cluster, state, runText) = try wiring.clusterAndRun(words)
        guard let runText else { throw ValidationError("name the run: cloudc harvest \(cluster) RUN (see cloudc jobs \(cluster))") }
        let operations = wiring.operations
        let run = try operations.runs.resolve(cluster: cluster, runText)
        let destination = wiring.absolutePath(into ?? run.id)
        let context = wiring.context
        let outcome = try await operations.harvest(run, state: state, into: destination, lines: lines, collect: collect)
        let states = outcome.states
        context.note("\(run.id): " + Harvest.summaryLine(states) + " — outputs in \(destination)")
        let unfinished = states.filter { $0.state == .pending || $0.state == .running || $0.state == .unknown }
        if !unfinished.isEmpty {
            context.note("\(unfinished.count) task(s) have not ended yet and were not copied; harvest again later (cloudc jobs \(run.id) --wait)")
        }
        for task in states where task.state == .failed || task.state == .cancelled {
            let values = run.spec.tasks.first { $0.index == task.index }?.values.map { "\($0.name)=\($0.value)" }.joined(separator: " ") ?? ""
            context.note("task \(task.index) \(task.state.rawValue)\(task.exitCode.map { " (exit \($0))" } ?? "")\(values.isEmpty ? "" : " [\(values)]"):")
            for line in (outcome.tails[task.index] ?? "").split(separator: "\n") {
                context.note("    \(line)")
            }
        }
        if states.contains(where: { $0.state == .failed || $0.state == .cancelled }) {
            context.note("Run the failed tasks again with: cloudc submit --rerun \(run.id)")
        }
        if let collect, let joined = outcome.collected {
            context.print(joined.path)
            context.note("\(joined.rows) row(s) from \(joined.tasks) task(s) joined into \(joined.path)"
                + (joined.missing.isEmpty ? "" : "; no \(collect) in task(s) \(joined.missing.map(String.init).joined(separator: ", "))"))
        }
    }
}

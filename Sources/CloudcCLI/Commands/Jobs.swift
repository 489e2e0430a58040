import ArgumentParser
import CloudcCore
import Executors
import Foundation
import Operations

struct Jobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The runs of a cluster with their tasks' states, or the tasks of one run.",
        discussion: "cloudc jobs [NAME] [RUN] — RUN may be a unique prefix of a run id. --wait follows a run until every task has ended, and then exits 1 if any failed.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The cluster, then a run (both optional).")
    var words: [String] = []

    @Flag(help: "Wait until every task of the run (or of every run) has ended, printing progress.")
    var wait = false

    @Option(help: "Seconds between checks while waiting.")
    var interval: Double = 5

    @Flag(help: "Cancel the run's tasks that have not ended (and those of its reruns).")
    var cancel = false

    func validate() throws {
        if cancel && wait { throw ValidationError("--cancel and --wait cannot go together") }
    }

    func run() async throws {
        let wiring = Wiring(global)
        let (cluster, state, runText) = try wiring.clusterAndRun(words)
        let store = wiring.operations.runs
        let chosen: [RunRecord]
        if let runText {
            chosen = [try store.resolve(cluster: cluster, runText)]
        } else {
            chosen = try store.list(cluster: cluster).filter { $0.rerunOf == nil }
        }
        guard !chosen.isEmpty else {
            wiring.context.note("No runs on \(cluster). Submit one with: cloudc submit -- COMMAND")
            return
        }
        let context = wiring.context
        let operations = wiring.operations
        if cancel {
            guard runText != nil, let run = chosen.first else {
                throw ValidationError("name the run to cancel: cloudc jobs \(cluster) RUN --cancel")
            }
            try await operations.cancel(run, state: state)
        }
        let states = try await operations.taskStates(of: chosen, state: state, wait: wait, interval: interval)

        if chosen.count == 1, let run = chosen.first, let tasks = states[run.id] {
            let byIndex = Dictionary(uniqueKeysWithValues: run.spec.tasks.map { ($0.index, $0) })
            var table = Table(header: ["TASK", "STATE", "EXIT"] + run.spec.names.map { $0.uppercased() })
            for task in tasks {
                let values = byIndex[task.index]?.values.map(\.value) ?? []
                table.rows.append(["\(task.index)", task.state.rawValue, task.exitCode.map(String.init) ?? "-"] + values)
            }
            for line in table.render() { context.print(line) }
            context.note("\(run.id): " + Harvest.summaryLine(tasks))
        } else {
            var table = Table(header: ["RUN", "EXECUTOR", "TASKS", "PENDING", "RUNNING", "DONE", "FAILED", "COMMAND"])
            for run in chosen {
                let tasks = states[run.id] ?? []
                func count(_ state: TaskState) -> String { "\(tasks.filter { $0.state == state }.count)" }
                table.rows.append([run.id, run.executor.rawValue, "\(tasks.count)", count(.pending), count(.running), count(.done),
                                   "\(tasks.filter { $0.state == .failed || $0.state == .cancelled }.count)",
                                   run.spec.words.joined(separator: " ")])
            }
            for line in table.render() { context.print(line) }
        }
        if wait, chosen.flatMap({ states[$0.id] ?? [] }).contains(where: { $0.state == .failed || $0.state == .cancelled }) {
            throw ExitCode(1)
        }
    }
}

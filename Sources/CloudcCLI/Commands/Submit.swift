import ArgumentParser
import CloudcCore
import Executors
import Foundation
import Operations

struct Submit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command on the cluster, or a grid of runs of it: quoted braces expand ('{0.1,0.01}', '{1..5}').",
        discussion: """
        cloudc submit -- python train.py --lr '{0.1,0.01}' --seed '{1..5}'
        runs 10 tasks (one SLURM job array). Quote the braces: unquoted, bash and zsh expand them
        before cloudc sees them (cloudc then refuses the command and shows the quoted form).
        Each task runs in its own folder on the shared /home with the files of --dir linked in, and
        gets CLOUDC_TASK (1…10) and CLOUDC_LR, CLOUDC_SEED set. Prints the run id; follow it with
        `cloudc jobs RUN --wait`, collect with `cloudc harvest RUN`.
        cloudc submit --dry-run -- python train.py --lr '{0.1,0.01}'
        lists the 2 tasks and submits nothing.
        """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The cluster (default: the only one, or the one chosen with `cloudc use`).")
    var name: String?

    @Option(help: "GPUs per task (SLURM GRES gpu).") var gpus: Int?
    @Option(help: "CPUs per task.") var cpus: Int?
    @Option(help: "Memory per task, as SLURM writes it (4G, 500M).") var mem: String?
    @Option(help: "Time limit per task, as SLURM writes it (90, 1:30:00, 2-00:00:00).") var time: String?
    @Option(help: "A folder whose files every task finds in its working folder (uploaded: only what changed).") var dir: String?
    @Option(help: "slurm (the cluster; default) or local (this machine, to try a grid first).") var executor: String?
    @Option(help: "The SLURM partition (default: the cluster's default; with --gpus, the first group with GPUs).") var partition: String?
    @Option(help: "Run again only the failed tasks of this run.") var rerun: String?
    @Flag(help: "List the tasks the command makes and submit nothing (no cluster needed).") var dryRun = false
    @Flag(help: "Run the command's words as given, even where they look expanded by the shell (an option followed by several values).")
    var asIs = false

    @Argument(parsing: .postTerminator, help: "The command (after --).")
    var command: [String] = []

    func validate() throws {
        if rerun == nil && command.isEmpty {
            throw ValidationError("give the command after --, e.g. cloudc submit -- python train.py --lr '{0.1,0.01}'")
        }
        if dryRun && rerun != nil { throw ValidationError("--dry-run lists a new command's tasks: give a command instead of --rerun") }
        if rerun != nil && !command.isEmpty { throw ValidationError("--rerun repeats a run's command: give no command with it") }
        if let gpus, gpus < 0 { throw ValidationError("--gpus must be 0 or more") }
        if let cpus, cpus < 1 { throw ValidationError("--cpus must be 1 or more") }
    }

    func run() async throws {
        let wiring = Wiring(global)
        if rerun == nil, !asIs { try ShellExpansion.check(command) }
        if dryRun {
            let (names, tasks) = try Grid.expand(command)
            wiring.progress.report("\(tasks.count) task(s)\(names.isEmpty ? "" : " (grid over \(names.joined(separator: ", ")))"); nothing submitted")
            var table = Table(header: ["TASK"] + names.map { $0.uppercased() } + ["COMMAND"])
            for task in tasks { table.rows.append([String(task.index)] + task.values.map(\.value) + [task.command]) }
            for line in table.render() { wiring.context.print(line) }
            return
        }
        let (cluster, state) = try wiring.jobCluster(name, executorFlag: executor)
        let operations = wiring.operations
        let submitted: RunRecord
        if let rerun {
            let original = try operations.runs.resolve(cluster: cluster, rerun)
            guard let again = try await operations.rerunFailed(of: original, state: state, partition: partition) else {
                wiring.context.note("No task of \(original.id) failed: nothing to run again")
                return
            }
            submitted = again
        } else {
            let kind = try wiring.executorKind(executor, state: state)
            let (names, tasks) = try Grid.expand(command)
            let work = try dir.map { path -> String in
                let full = wiring.absolutePath(path)
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), isDirectory.boolValue else {
                    throw CloudcError(.usage, "--dir \(path) is not a folder", fix: "give --dir the folder with your code and inputs")
                }
                return full
            }
            let spec = JobSpec(words: command, names: names, tasks: tasks,
                               resources: Resources(cpus: cpus, gpus: gpus, memory: mem, time: time), workDirectory: work)
            submitted = try await operations.submit(spec, cluster: cluster, state: state, executor: kind, partition: partition)
        }
        wiring.context.print(submitted.id)
    }
}

import CloudcCore
import Executors
import Foundation
import SSH

/// What a harvest brought back.
public struct HarvestOutcome: Sendable {
    /// Every task's state, reruns counted.
    public var states: [TaskStatus]
    /// The last stderr lines of each failed or cancelled task, by task index.
    public var tails: [Int: String]
    /// The joined table, where `--collect` asked for one.
    public var collected: Collected?

    public struct Collected: Sendable {
        public var path: String
        public var rows: Int
        public var tasks: Int
        /// Tasks that ended well but wrote no such file.
        public var missing: [Int]
    }
}

/// The experiment use cases: submit a grid (or rerun its failed tasks), follow runs, cancel,
/// harvest. Runs of the `slurm` executor go through one session to the frontend per command.
extension Operations {
    public var runs: RunStore { RunStore(home: store.home) }

    /// Runs `body` with the executor of `kind`; for `slurm`, over a session to the frontend that
    /// is closed afterwards.
    public func withExecutor<T: Sendable>(_ kind: ExecutorKind, state: ClusterState?, partition: String? = nil,
                                          _ body: (any Executor) async throws -> T) async throws -> T {
        if kind == .local { return try await body(LocalExecutor()) }
        guard let state else {
            throw CloudcError(.notFound, "there is no running cluster to submit to",
                              fix: "start one with: cloudc start TEMPLATE — or try the job here first with --executor local")
        }
        guard let frontend = state.frontend else {
            throw CloudcError(.state, "cluster \(state.name) has no frontend node", fix: "see its nodes with: cloudc list-nodes \(state.name)")
        }
        return try await withSession(to: frontend, of: state) { session in
            try await body(SlurmExecutor(shell: session, partition: partition))
        }
    }

    /// A new run of `spec` on `cluster`, recorded once its tasks are submitted. The partition:
    /// the one asked for, else (a job that asks for GPUs) the cluster's first GPU group.
    public func submit(_ spec: JobSpec, cluster: String, state: ClusterState?, executor kind: ExecutorKind,
                       partition: String?) async throws -> RunRecord {
        let id = RunStore.newID(now: Date())
        let directory = kind == .local ? runs.localRunDirectory(cluster: cluster, id: id) : id
        let record = RunRecord(id: id, cluster: cluster, executor: kind, createdAt: Date(), spec: spec,
                               directory: directory, taskIndexes: spec.tasks.map(\.index))
        let grid = spec.names.isEmpty ? "" : " (grid over \(spec.names.joined(separator: ", ")))"
        progress.report("Submitting \(spec.tasks.count) task(s)\(grid) to \(kind == .local ? "this machine" : "cluster \(cluster)")")
        return try await submit(record, state: state, partition: partition)
    }

    /// The failed and cancelled tasks of `original` run again as a new run; nil when none failed.
    public func rerunFailed(of original: RunRecord, state: ClusterState?, partition: String?) async throws -> RunRecord? {
        let failed = try await withExecutor(original.executor, state: state) { executor in
            try await runs.taskStates(of: original, executor: executor).filter { $0.state == .failed || $0.state == .cancelled }.map(\.index)
        }
        guard !failed.isEmpty else { return nil }
        let record = RunRecord(id: RunStore.newID(now: Date()), cluster: original.cluster, executor: original.executor,
                               createdAt: Date(), spec: original.spec, directory: original.directory,
                               taskIndexes: failed, rerunOf: original.id)
        progress.report("Running again \(failed.count) failed task(s) of \(original.id): \(failed.map(String.init).joined(separator: ", "))")
        return try await submit(record, state: state, partition: partition)
    }

    func submit(_ record: RunRecord, state: ClusterState?, partition: String?) async throws -> RunRecord {
        let partition = partition ?? ((record.spec.resources.gpus ?? 0) > 0 ? state?.spec.groups.first { $0.gpus != nil }?.name : nil)
        let submitted = try await withExecutor(record.executor, state: state, partition: partition) { executor in
            try await executor.submit(record, progress: progress)
        }
        try runs.save(submitted)
        return submitted
    }

    /// Cancels the unfinished tasks of `run` and of its reruns.
    public func cancel(_ run: RunRecord, state: ClusterState?) async throws {
        let family = [run] + (try runs.reruns(of: run))
        try await withExecutor(run.executor, state: state) { executor in
            for member in family { try await executor.cancel(member) }
        }
        progress.report("Cancelled the unfinished tasks of \(run.id)")
    }

    /// The task states of `chosen`, by run id; with `wait`, polled every `interval` seconds until
    /// every task ended, each new summary told to the progress sink. One session to the frontend
    /// for the whole wait (runs of the local executor need none), each run's reruns looked up once.
    public func taskStates(of chosen: [RunRecord], state: ClusterState?, wait: Bool,
                           interval: Double) async throws -> [String: [TaskStatus]] {
        let families = try Dictionary(uniqueKeysWithValues: chosen.map { ($0.id, try runs.reruns(of: $0)) })
        let needsCluster = chosen.contains { $0.executor != .local }
        return try await withExecutor(needsCluster ? .slurm : .local, state: state) { cluster in
            let local = LocalExecutor()
            var states: [String: [TaskStatus]] = [:]
            var lastLine = ""
            while true {
                for run in chosen {
                    let executor: any Executor = run.executor == .local ? local : cluster
                    states[run.id] = try await RunStore.taskStates(of: run, reruns: families[run.id] ?? [], executor: executor)
                }
                let all = chosen.flatMap { states[$0.id] ?? [] }
                let ended = all.allSatisfy { [.done, .failed, .cancelled].contains($0.state) }
                guard wait, !ended else { return states }
                let line = (chosen.count == 1 ? "\(chosen[0].id): " : "") + Harvest.summaryLine(all)
                if line != lastLine { progress.report(line); lastLine = line }
                try await Task.sleep(nanoseconds: UInt64(max(0.2, interval) * 1_000_000_000))
            }
        }
    }

    /// Copies the ended tasks of `run` into `destination`, reads the last `lines` stderr lines of
    /// each failed one, and with `collect` joins every done task's copy of that file into one table
    /// at `destination/<file>`.
    public func harvest(_ run: RunRecord, state: ClusterState?, into destination: String, lines: Int,
                        collect: String?) async throws -> HarvestOutcome {
        let lines = max(1, lines)
        var outcome = try await withExecutor(run.executor, state: state) { executor in
            let states = try await runs.taskStates(of: run, executor: executor)
            let ended = states.filter { [.done, .failed, .cancelled].contains($0.state) }.map(\.index)
            try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
            try await executor.collect(run, tasks: ended, into: destination, progress: progress)
            var tails: [Int: String] = [:]
            for task in states where task.state == .failed || task.state == .cancelled {
                tails[task.index] = try await executor.stderrTail(run, task: task.index, lines: lines)
            }
            return HarvestOutcome(states: states, tails: tails)
        }
        if let collect {
            let done = Set(outcome.states.filter { $0.state == .done }.map(\.index))
            let tasks = run.spec.tasks.filter { done.contains($0.index) }
            let joined = try Harvest.collect(file: collect, from: destination, tasks: tasks, names: run.spec.names)
            let target = destination + "/" + (collect as NSString).lastPathComponent
            try AtomicFile.write(Array(joined.table.utf8), to: target, mode: 0o644)
            outcome.collected = .init(path: target, rows: joined.rows, tasks: tasks.count - joined.missing.count, missing: joined.missing)
        }
        return outcome
    }
}

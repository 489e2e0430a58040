import CloudcCore
import Foundation

/// What one task of a job may use. SLURM's spellings: `memory` "4G", `time` "1:30:00" or "90".
public struct Resources: Sendable, Codable, Equatable {
    public var cpus: Int?
    public var gpus: Int?
    public var memory: String?
    public var time: String?
    public init(cpus: Int? = nil, gpus: Int? = nil, memory: String? = nil, time: String? = nil) {
        self.cpus = cpus; self.gpus = gpus; self.memory = memory; self.time = time
    }
}

/// One value a task got from one brace of the command: `--lr {0.1,0.01}` gives `lr` = `0.1`.
public struct GridValue: Sendable, Codable, Equatable {
    public var name: String
    public var value: String
    public init(name: String, value: String) { self.name = name; self.value = value }
}

/// One run of the grid: its index (1-based, the SLURM array index), the values it got, and its
/// command line with the braces replaced (a shell command, each word quoted as needed).
public struct GridTask: Sendable, Codable, Equatable {
    public var index: Int
    public var values: [GridValue]
    public var command: String
    public init(index: Int, values: [GridValue], command: String) {
        self.index = index; self.values = values; self.command = command
    }
}

/// What `cloudc submit` asked for.
public struct JobSpec: Sendable, Codable, Equatable {
    /// The command's words as given (braces unexpanded).
    public var words: [String]
    /// The grid's dimension names, in command order (the columns `harvest --collect` adds).
    public var names: [String]
    public var tasks: [GridTask]
    public var resources: Resources
    /// The local folder whose contents every task finds in its working directory; nil: none.
    public var workDirectory: String?
    public init(words: [String], names: [String], tasks: [GridTask], resources: Resources, workDirectory: String?) {
        self.words = words; self.names = names; self.tasks = tasks; self.resources = resources; self.workDirectory = workDirectory
    }
}

/// Where a task is.
public enum TaskState: String, Sendable, Codable, Equatable, CaseIterable {
    case pending, running, done, failed, cancelled, unknown
}

public struct TaskStatus: Sendable, Codable, Equatable {
    public var index: Int
    public var state: TaskState
    public var exitCode: Int32?
    public init(index: Int, state: TaskState, exitCode: Int32? = nil) {
        self.index = index; self.state = state; self.exitCode = exitCode
    }
}

/// One submission, kept in `$CLOUDC_HOME/runs/<cluster>/<id>.json`.
public struct RunRecord: Sendable, Codable, Equatable {
    /// `r20261122-041502-3fa9`: sortable by time, unique.
    public var id: String
    public var cluster: String
    /// `slurm` or `local`.
    public var executor: ExecutorKind
    public var createdAt: Date
    public var spec: JobSpec
    /// The run directory (see `RunLayout`): on the frontend for `slurm`, on this machine for `local`.
    public var directory: String
    /// The task indexes this submission runs: all of the spec's, or a rerun's failed ones.
    public var taskIndexes: [Int]
    /// SLURM job ids (one per array; a grid above MaxArraySize is split); empty for `local`.
    public var jobIDs: [String]
    /// For a `--rerun`: the run it repeats the failed tasks of (and shares the directory with).
    public var rerunOf: String?
    /// Per SLURM job id: what its array indexes add up to a task index (a grid larger than
    /// MaxArraySize is split into arrays whose indexes restart at 1).
    public var arrayOffsets: [Int]

    public init(id: String, cluster: String, executor: ExecutorKind, createdAt: Date, spec: JobSpec, directory: String,
                taskIndexes: [Int], jobIDs: [String] = [], rerunOf: String? = nil, arrayOffsets: [Int] = []) {
        self.id = id; self.cluster = cluster; self.executor = executor; self.createdAt = createdAt; self.spec = spec
        self.directory = directory; self.taskIndexes = taskIndexes; self.jobIDs = jobIDs; self.rerunOf = rerunOf
        self.arrayOffsets = arrayOffsets
    }
}

/// Runs jobs somewhere. Both executors use the same run-directory layout (`RunLayout`).
public protocol Executor: Sendable {
    /// Puts the run directory in place (the work folder, only what changed; the scripts) and
    /// starts `run.taskIndexes`; returns the record with what it learnt (job ids).
    func submit(_ run: RunRecord, progress: any ProgressSink) async throws -> RunRecord

    /// The state of each of `run.taskIndexes`.
    func status(_ run: RunRecord) async throws -> [TaskStatus]

    /// Stops the run's tasks that have not ended.
    func cancel(_ run: RunRecord) async throws

    /// Copies each task's folder (its outputs, not the work folder's links) into `local`/<index>/.
    func collect(_ run: RunRecord, tasks: [Int], into local: String, progress: any ProgressSink) async throws

    /// The last `lines` lines of a task's stderr.
    func stderrTail(_ run: RunRecord, task: Int, lines: Int) async throws -> String
}

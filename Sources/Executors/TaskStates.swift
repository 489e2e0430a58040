import CloudcCore
import Foundation

/// A run's tasks as they stand, reruns included: the one rule for which state of a task counts.
extension RunStore {
    /// The reruns of `run`, oldest first.
    public func reruns(of run: RunRecord) throws -> [RunRecord] {
        try list(cluster: run.cluster).filter { $0.rerunOf == run.id }.sorted { $0.createdAt < $1.createdAt }
    }

    /// The state of every task of `run`, with later reruns of its tasks taking precedence.
    public func taskStates(of run: RunRecord, executor: any Executor) async throws -> [TaskStatus] {
        try await Self.taskStates(of: run, reruns: reruns(of: run), executor: executor)
    }

    /// The same, with the run's reruns already looked up (oldest first).
    public static func taskStates(of run: RunRecord, reruns: [RunRecord], executor: any Executor) async throws -> [TaskStatus] {
        var byIndex: [Int: TaskStatus] = [:]
        for status in try await executor.status(run) { byIndex[status.index] = status }
        for rerun in reruns {
            for status in try await executor.status(rerun) { byIndex[status.index] = status }
        }
        return byIndex.values.sorted { $0.index < $1.index }
    }
}

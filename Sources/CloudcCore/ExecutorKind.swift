/// Where a job's tasks run: the cluster's SLURM, or this machine.
public enum ExecutorKind: String, Sendable, Codable, Equatable, CaseIterable {
    case slurm
    case local

    public static var names: [String] { allCases.map(\.rawValue) }
}

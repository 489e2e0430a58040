import CloudcCore
import Executors
import Foundation
import Operations
import State

/// Which executor and cluster a job command means.
extension Wiring {
    /// `--executor`, else the cluster template's `executor:`, else `slurm`.
    func executorKind(_ flag: String?, state: ClusterState?) throws -> ExecutorKind {
        guard let flag else { return state?.spec.executor ?? .slurm }
        guard let kind = ExecutorKind(rawValue: flag) else {
            throw CloudcError(.usage, "unknown executor '\(flag)'", fix: "use --executor slurm (the cluster's SLURM) or --executor local (this machine)")
        }
        return kind
    }

    /// The cluster a job command is about: the one named, else the current or only one; for the
    /// local executor a name need not be a running cluster (runs are kept under it all the same).
    func jobCluster(_ given: String?, executorFlag: String?) throws -> (name: String, state: ClusterState?) {
        if executorFlag == ExecutorKind.local.rawValue {
            if let given {
                try StateStore.validate(name: given)
                return (given, try store.load(given))
            }
            if let name = try? clusterName(nil) { return (name, try store.load(name)) }
            return ("local", nil)
        }
        do {
            let name = try clusterName(given)
            return (name, try store.load(name))
        } catch var error as CloudcError where error.code == .notFound && given == nil {
            error.fix = (error.fix ?? "start one with: cloudc start TEMPLATE") + " — or run the job on this machine with --executor local"
            throw error
        }
    }
}

extension Wiring {
    /// A path as the user typed it: `~` expanded, relative to the working folder.
    func absolutePath(_ path: String) -> String {
        let expanded = expandTilde(path)
        let full = expanded.hasPrefix("/") ? expanded : FileManager.default.currentDirectoryPath + "/" + expanded
        return (full as NSString).standardizingPath
    }

    /// `[NAME] RUN` given as one or two words: with one, a known cluster's name or else a run id.
    func clusterAndRun(_ words: [String], executorFlag: String? = nil) throws -> (cluster: String, state: ClusterState?, run: String?) {
        switch words.count {
        case 0:
            // Runs are listed whether or not a cluster runs (local-executor runs need none).
            let (name, state) = try jobCluster(nil, executorFlag: executorFlag ?? "local")
            return (name, state, nil)
        case 1:
            if (try? store.load(words[0])) ?? nil != nil || (try? operations.runs.list(cluster: words[0]))?.isEmpty == false {
                let (name, state) = try jobCluster(words[0], executorFlag: executorFlag)
                return (name, state, nil)
            }
            let (name, state) = try jobCluster(nil, executorFlag: executorFlag ?? "local")
            return (name, state, words[0])
        case 2:
            let (name, state) = try jobCluster(words[0], executorFlag: executorFlag ?? "local")
            return (name, state, words[1])
        default:
            throw CloudcError(.usage, "too many arguments: \(words.joined(separator: " "))", fix: "give at most a cluster name and a run id")
        }
    }
}

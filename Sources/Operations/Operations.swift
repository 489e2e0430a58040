import CloudcCore
import Configurator
import Foundation
import Lifecycle
import SSH
import State

/// The use cases of cloudc, each one function of plain inputs: start (with its setup), setup,
/// resize, stop, the deployed slurm.conf. The concrete parts (which cloud, which credentials,
/// where the playbooks are) come in built; what the user sees goes out as progress lines and
/// events. Every function that changes a cluster holds its lock for the whole of it and reads
/// its state once under it.
public struct Operations: Sendable {
    public var store: StateStore
    public var clouds: Clouds
    public var nodes: NodeAccess
    public var progress: any ProgressSink
    public var events: any OperationEvents
    /// The user's home folder, for `~` in the paths a config gives (keys, playbooks).
    public var home: String
    /// The folder holding cloudc's `playbooks/` and `templates/`; asked only when a setup runs.
    public var shareDirectory: @Sendable () throws -> String

    public init(store: StateStore, clouds: Clouds, nodes: NodeAccess, progress: any ProgressSink,
                events: any OperationEvents, home: String, shareDirectory: @escaping @Sendable () throws -> String) {
        self.store = store; self.clouds = clouds; self.nodes = nodes; self.progress = progress
        self.events = events; self.home = home; self.shareDirectory = shareDirectory
    }

    func expandTilde(_ path: String) -> String { HomePath.expand(path, home: home) }
}

/// How the operations reach clouds: factories, called once per command.
public struct Clouds: Sendable {
    /// The provider of a cloud, its credentials resolved.
    public var provider: @Sendable (CloudSpec) throws -> any CloudProvider
    /// The cloud an existing cluster talks to: the config's entry of that name (it may hold
    /// inline credentials the state never stores), else the state's own copy.
    public var cloudOf: @Sendable (ClusterState) -> CloudSpec
    /// The caller's public address as a /32, for a template with no `ssh_from`; its argument is
    /// the template, for the error's fix.
    public var callerAddress: @Sendable (_ template: String) async throws -> String
    /// How long and how often to poll the cloud.
    public var waiting: Poller

    public init(provider: @escaping @Sendable (CloudSpec) throws -> any CloudProvider,
                cloudOf: @escaping @Sendable (ClusterState) -> CloudSpec,
                callerAddress: @escaping @Sendable (String) async throws -> String, waiting: Poller = Poller()) {
        self.provider = provider; self.cloudOf = cloudOf; self.callerAddress = callerAddress; self.waiting = waiting
    }
}

/// How the operations reach nodes over SSH.
public struct NodeAccess: Sendable {
    public var connector: SSHConnector
    /// Nodes configured at once.
    public var fanOut: Int

    public init(connector: SSHConnector = SSHConnector(), fanOut: Int = 64) {
        self.connector = connector; self.fanOut = max(1, fanOut)
    }
}

/// What an operation tells its caller along the way, for the caller to show as it likes.
/// (Step-by-step progress goes to the `ProgressSink`.)
public protocol OperationEvents: Sendable {
    /// A start has every node up, before its setup.
    func nodesUp(_ state: ClusterState, seconds: Double)
    /// A setup was asked of a cluster whose template has none.
    func nothingToSetUp(cluster: String)
    /// A setup ran to its end.
    func setupDone(cluster: String, report: SetupReport)
    /// A start with its setup is done: the cluster takes jobs.
    func ready(cluster: String, seconds: Double)
}

/// Events nobody shows (tests, scripts).
public struct SilentEvents: OperationEvents {
    public init() {}
    public func nodesUp(_ state: ClusterState, seconds: Double) {}
    public func nothingToSetUp(cluster: String) {}
    public func setupDone(cluster: String, report: SetupReport) {}
    public func ready(cluster: String, seconds: Double) {}
}

extension Operations {
    /// The lifecycle of a cluster on `provider` (built once per command).
    func lifecycle(_ provider: any CloudProvider) -> ClusterLifecycle {
        ClusterLifecycle(store: store, provider: provider, progress: progress, waiting: clouds.waiting)
    }

    /// The state of cluster `name`, or an error that lists the clusters there are.
    public func loadState(_ name: String) throws -> ClusterState {
        guard let state = try store.load(name) else {
            let names = (try? store.names()) ?? []
            throw CloudcError(.notFound, "no cluster named '\(name)'",
                              fix: names.isEmpty ? "start one with: cloudc start TEMPLATE" : "known clusters: \(names.joined(separator: ", "))")
        }
        return state
    }
}

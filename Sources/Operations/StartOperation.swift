import CloudcCore
import Foundation
import Lifecycle
import SSH
import State

/// What `cloudc start` asks for.
public struct StartRequest: Sendable {
    /// The cluster's name.
    public var name: String
    /// The cluster template, resolved from the config.
    public var spec: ClusterSpec
    /// Configure the nodes after creating them (`--no-setup` says no).
    public var setup: Bool
    /// The command as the user typed it, for the lock's holder line.
    public var command: String

    public init(name: String, spec: ClusterSpec, setup: Bool, command: String) {
        self.name = name; self.spec = spec; self.setup = setup; self.command = command
    }
}

extension Operations {
    /// Starts cluster `request.name`, or resumes starting it, then sets it up. One lock from the
    /// first read of the state to the end of the setup: no other cloudc runs between the launch
    /// and the setup.
    @discardableResult
    public func start(_ request: StartRequest) async throws -> ClusterState {
        try StateStore.validate(name: request.name)
        let publicKey = try publicKey(for: request.spec)
        let began = Date()
        let provider = try clouds.provider(request.spec.cloud)
        let lifecycle = self.lifecycle(provider)
        return try await store.withLock(request.name, command: request.command) {
            let existing = try store.load(request.name)
            let sshFrom = try await SSHFrom.resolve(recorded: existing?.spec.sshFrom, spec: request.spec,
                                                    progress: progress, lookUp: clouds.callerAddress)
            if var interrupted = existing, interrupted.resize != nil {
                // A resize an interrupted command left is finished first, to the size it asked for
                // (a state from before ssh_from was recorded gets the one resolved now: it needs it).
                if interrupted.spec.sshFrom == nil { interrupted.spec.sshFrom = sshFrom; try store.save(interrupted) }
                try await finishInterruptedResize(&interrupted, provider: provider)
            }
            var state = try await lifecycle.startHoldingLock(name: request.name, spec: request.spec,
                                                             sshFrom: sshFrom, publicKey: publicKey)
            try forgetReplacedNodes(before: existing, after: state)
            try pinOutOfBandKeys(state, into: KnownHosts(path: store.knownHostsPath(of: request.name)))
            events.nodesUp(state, seconds: Date().timeIntervalSince(began))
            Failpoint.pause(at: "start.before-setup", progress: progress)
            if request.setup, state.spec.setup != nil {
                try await runSetup(&state, traits: provider.traits)
                events.ready(cluster: state.name, seconds: Date().timeIntervalSince(began))
            }
            return state
        }
    }
}

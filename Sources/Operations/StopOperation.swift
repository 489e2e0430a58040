import CloudcCore
import Foundation
import Lifecycle

extension Operations {
    /// `cloudc stop NAME`: deletes every instance and resource of the cluster, waits until the
    /// cloud reports them gone, then forgets it. `beforeForgetting` removes what the cluster left
    /// on this machine outside the state (an installed SSH config). Holds the lock.
    public func stop(name: String, command: String,
                     beforeForgetting: @escaping @Sendable () throws -> Void = {}) async throws -> ClusterLifecycle.StopReport {
        let state = try loadState(name)
        let provider = try clouds.provider(clouds.cloudOf(state))
        return try await lifecycle(provider).stop(name: name, command: command, beforeForgetting: beforeForgetting)
    }
}

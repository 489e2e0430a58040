import CloudcCore
import Foundation
import SSH
import State

/// Sessions to a cluster's nodes, at the one route `NodeRoute` gives, with host keys pinned.
extension Operations {
    /// Runs `body` with a session to `node`, closed after it whether it returns or throws.
    public func withSession<T>(to node: NodeRecord, of state: ClusterState,
                               _ body: (SSHSession) async throws -> T) async throws -> T {
        let session = try await self.session(to: node, of: state)
        do {
            let value = try await body(session)
            await session.close()
            return value
        } catch {
            await session.close()
            throw error
        }
    }

    /// A session to one node, pinning its host key on first contact.
    func session(to node: NodeRecord, of state: ClusterState) async throws -> SSHSession {
        guard let route = NodeRoute(node, in: state), node.isReady else {
            throw CloudcError(.state, "node \(node.name) of \(state.name) is not running (\(node.state.rawValue))",
                              fix: "bring it up with: cloudc start \(state.spec.template) -n \(state.name)")
        }
        let knownHosts = KnownHosts(path: store.knownHostsPath(of: state.name))
        try pinOutOfBandKeys(state, into: knownHosts)
        return try await nodes.connector.waitAndConnect(
            to: SSHEndpoint(route: route, user: state.spec.login.user), identity: identity(state.spec.login, route: route),
            knownHosts: knownHosts,
            progress: { [progress] line in progress.report(line) })
    }

    /// Pins the host keys the provider told out of band (made at boot, read from the cloud)
    /// under the address cloudc connects to, so the first connection is checked, not trusted.
    public func pinOutOfBandKeys(_ state: ClusterState, into knownHosts: KnownHosts) throws {
        for node in state.nodes {
            guard let keys = node.hostKeys, !keys.isEmpty, let route = NodeRoute(node, in: state) else { continue }
            try knownHosts.pin(host: route.address, port: route.port, keys: keys)
        }
    }

    /// Drops the pinned host keys of nodes whose instance was replaced (a lost node relaunched,
    /// a node removed): their successor may come up on the same address with a new key.
    func forgetReplacedNodes(before: ClusterState?, after: ClusterState) throws {
        guard let before else { return }
        let knownHosts = KnownHosts(path: store.knownHostsPath(of: after.name))
        for old in before.nodes where old.instanceID != nil && after.node(named: old.name)?.instanceID != old.instanceID {
            for address in Set([old.publicIP, old.privateIP].compactMap { $0 }) {
                try knownHosts.forget(host: address)
            }
        }
    }
}

/// How cloudc reaches a node's sshd, and so the name its host key is pinned under: the one rule
/// that setup, `cloudc ssh`, the executors and the exports share.
///
/// - On a cloud, the frontend is reached directly: at its public address, or at its private one
///   where the cloud says `reach: private`. Every other node is reached at its private address
///   through the frontend (a jump), whether or not it has a public address: the cluster's
///   firewall lets SSH in to the frontend only.
/// - A local cluster's nodes are all on this machine's bridge: each is reached directly.
public struct NodeRoute: Sendable, Equatable {
    /// The address to connect to, and the known_hosts name of the node's key.
    public var address: String
    /// The frontend's address, when the node is reached through it.
    public var jump: String?

    public init(address: String, jump: String? = nil) {
        self.address = address
        self.jump = jump
    }

    /// nil while the node (or, for a node behind it, the frontend) has no address to use.
    public init?(_ node: NodeRecord, in cluster: ClusterState) {
        if cluster.spec.cloud.provider == .local {
            guard let address = node.publicIP ?? node.privateIP else { return nil }
            self.init(address: address)
            return
        }
        guard let frontend = cluster.frontend, let front = Self.direct(frontend, reach: cluster.spec.reach) else { return nil }
        if node.name == frontend.name {
            self.init(address: front)
        } else {
            guard let address = node.privateIP else { return nil }
            self.init(address: address, jump: front)
        }
    }

    /// Where the frontend is connected to.
    static func direct(_ node: NodeRecord, reach: NetworkReach) -> String? {
        switch reach {
        case .publicAddress: node.publicIP
        case .privateNetwork: node.privateIP
        }
    }
}

/// How cloudc reaches a node's sshd, and so the name its host key is pinned under: the one rule
/// that setup, `cloudc ssh`, the executors and the exports share. Today a node's public address,
/// else its private one.
public struct NodeRoute: Sendable, Equatable {
    /// The address to connect to, and the known_hosts name of the node's key.
    public var address: String

    public init?(_ node: NodeRecord) {
        guard let address = node.publicIP ?? node.privateIP else { return nil }
        self.address = address
    }
}

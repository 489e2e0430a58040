/// How cloudc reaches a node's sshd, and so the name its host key is pinned under: the one rule
/// that setup, `cloudc ssh`, the executors and the exports share.
///
/// - On a cloud, the frontend is reached directly: at its public address, or at its private one
///   where the cloud says `reach: private`. Every other node is reached at its private address
///   through the frontend (a jump), whether or not it has a public address: the cluster's
///   firewall lets SSH in to the frontend only.
/// - A local cluster's nodes are all on this machine's bridge: each is reached directly.
/// - The user's own machines are each reached directly (or through the cloud's `jump:` host),
///   at the port, user and key recorded when the machine joined.
public struct NodeRoute: Sendable, Equatable {
    /// The address to connect to, and the known_hosts name of the node's key.
    public var address: String
    public var port: Int = 22
    /// The login user and key, where the node has its own; nil: the cluster's login's.
    public var user: String?
    public var key: String?
    /// The host the node is reached through (the frontend, or an own machines cloud's `jump:`).
    public var jump: String?
    public var jumpPort: Int = 22
    /// The user on the jump host; nil: the node's.
    public var jumpUser: String?

    public init(address: String, jump: String? = nil) {
        self.address = address
        self.jump = jump
    }

    /// nil while the node (or, for a node behind it, the frontend) has no address to use.
    public init?(_ node: NodeRecord, in cluster: ClusterState) {
        if case .ssh(let settings) = cluster.spec.cloud.settings {
            guard let address = node.privateIP else { return nil }
            self.init(address: address)
            if let login = node.login { port = login.port; user = login.user; key = login.key }
            if let jump = settings.jump.flatMap(JumpHost.init) { self.jump = jump.host; jumpPort = jump.port; jumpUser = jump.user }
            return
        }
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

/// `[user@]host[:port]`, as an own machines cloud's `jump:` says it (IPv6: `[addr]:port`).
public struct JumpHost: Sendable, Equatable {
    public var user: String?
    public var host: String
    public var port: Int

    public init(user: String?, host: String, port: Int) {
        self.user = user; self.host = host; self.port = port
    }

    public init?(_ text: String) {
        var rest = Substring(text)
        if let at = rest.lastIndex(of: "@") {
            user = String(rest[..<at])
            rest = rest[rest.index(after: at)...]
            if user?.isEmpty == true { return nil }
        }
        port = 22
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") { guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { return nil }; port = p }
            else if !after.isEmpty { return nil }
        } else if let colon = rest.firstIndex(of: ":"), rest.filter({ $0 == ":" }).count == 1 {
            host = String(rest[..<colon])
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
        } else {
            host = String(rest)
        }
        if host.isEmpty || host.hasPrefix("-") { return nil }
    }
}

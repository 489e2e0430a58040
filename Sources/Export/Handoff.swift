import CloudcCore

/// What the hand-off formats are made from: a cluster's recorded state and where its files are
/// on this machine. Plain values, no I/O, so every format is a pure function of one of these.
public struct Handoff: Sendable {
    public let state: ClusterState
    /// The login's private key, as an absolute path (`~` already expanded).
    public let privateKey: String
    /// The login's public key, as an absolute path.
    public let publicKey: String
    /// The cluster's own known_hosts, with the host keys cloudc pinned on first contact.
    public let knownHosts: String
    /// The cluster's state file.
    public let stateFile: String

    /// Throws when a value would not stay one value in an ssh_config or inventory line: an
    /// address that is not an IP address, a login user ssh would take for an option, a path
    /// with a control character. (Clouds' addresses are checked as they arrive; a state file
    /// written by an older cloudc or by hand is checked here.)
    public init(state: ClusterState, privateKey: String, publicKey: String, knownHosts: String, stateFile: String) throws {
        let stateShown = "the state of cluster \(state.name) (\(stateFile))"
        for node in state.nodes {
            for address in [node.privateIP, node.publicIP].compactMap({ $0 }) where IPAddress.canonical(address) != address {
                throw CloudcError(.state, "\(stateShown) gives node \(node.name) the address \(String(reflecting: address)), which is not an IP address",
                                  fix: "run cloudc start \(state.name) again to read the addresses from the cloud, or stop the cluster")
            }
        }
        for user in Set([state.spec.login.user] + state.nodes.compactMap { $0.login?.user }) where !ConfigValueCheck.isLoginUser(user) {
            throw CloudcError(.config, "the login user \(String(reflecting: user)) of cluster \(state.name) is not a user name ssh takes",
                              fix: "use letters, digits, '_', '-', '.' and '@', not starting with '-'")
        }
        for path in [privateKey, publicKey, knownHosts] + state.nodes.compactMap({ $0.login?.key })
        where ConfigValueCheck.hasControlCharacters(path) {
            throw CloudcError(.config, "the path \(String(reflecting: path)) holds a control character, which no SSH config can carry",
                              fix: "move the key to a path without control characters and set private_key: in the login")
        }
        self.state = state
        self.privateKey = privateKey
        self.publicKey = publicKey
        self.knownHosts = knownHosts
        self.stateFile = stateFile
    }

    public var name: String { state.name }
    public var user: String { state.spec.login.user }
    public var frontend: NodeRecord? { state.frontend }

    /// Group names in the spec's order, the frontend's group first (as setup orders them).
    public var groupNames: [String] {
        let names = state.spec.groups.map(\.name)
        guard let front = state.frontendGroup else { return names }
        return [front] + names.filter { $0 != front }
    }

    /// Every node, by group (in `groupNames` order) and then by name; nodes of a group the spec
    /// no longer names come last.
    public var orderedNodes: [NodeRecord] {
        let rank = Dictionary(uniqueKeysWithValues: groupNames.enumerated().map { ($1, $0) })
        return state.nodes.sorted {
            (rank[$0.group] ?? Int.max, $0.name) < (rank[$1.group] ?? Int.max, $1.name)
        }
    }

    /// Nodes that can be logged into: running, with an address.
    public var reachableNodes: [NodeRecord] { orderedNodes.filter(\.isReady) }

    /// The SSH alias of a node: `<cluster>-<node>`.
    public func alias(of node: NodeRecord) -> String { "\(name)-\(node.name)" }

    /// Whether users reach the node directly (the frontend) or through the frontend.
    public func isFrontend(_ node: NodeRecord) -> Bool { node.name == frontend?.name }

    /// The address cloudc itself connects to, and so the one its known_hosts pins the node's
    /// host key under (`NodeRoute`).
    public func pinnedAddress(of node: NodeRecord) -> String? { NodeRoute(node, in: state)?.address }

    /// Where users connect to the node: the frontend at its pinned address; every other node at
    /// its private address, through the frontend (the address cloudc pins its key under too).
    /// The user's own machines: each at its address.
    public func connectAddress(of node: NodeRecord) -> String? {
        isFrontend(node) || ownMachines ? pinnedAddress(of: node) : node.privateIP
    }

    /// The nodes are the user's own machines (provider ssh): each reached directly, or through
    /// the cloud's `jump:` host, with its own user, port and key.
    public var ownMachines: Bool {
        if case .ssh = state.spec.cloud.settings { return true }
        return false
    }

    /// Whether the node is reached through the frontend (a cloud's nodes other than the frontend).
    public func isBehindFrontend(_ node: NodeRecord) -> Bool { !ownMachines && !isFrontend(node) }

    /// The host an own machines cloud goes through (`jump:`), as ssh's ProxyJump takes it.
    public var ownJump: String? {
        guard case .ssh(let settings) = state.spec.cloud.settings, let jump = settings.jump else { return nil }
        return JumpHost(jump) == nil ? nil : jump
    }

    /// The node's login user, key and sshd port: its own (an own machine's), else the cluster's.
    public func user(of node: NodeRecord) -> String { node.login?.user ?? user }
    public func privateKey(of node: NodeRecord) -> String { node.login?.key ?? privateKey }
    public func port(of node: NodeRecord) -> Int { node.login?.port ?? 22 }

    /// The SLURM partition jobs go to by default: the first worker group (not the frontend's) with nodes.
    public var defaultPartition: String? {
        groupNames.dropFirst(state.frontendGroup == nil ? 0 : 1)
            .first { group in state.nodes.contains { $0.group == group && $0.state.isLive } }
    }
}

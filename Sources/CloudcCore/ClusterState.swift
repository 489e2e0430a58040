import Foundation

/// What cloudc knows about one running cluster: written to `$CLOUDC_HOME/clusters/<name>.json`.
///
/// An intent is recorded before every cloud call that creates something (a resource with
/// status `.creating`, a launch with status `.requested`), its result after. A crash at any
/// point therefore leaves a record from which `start` can resume and `stop` can clean up.
public struct ClusterState: Sendable, Codable, Equatable {
    public static let currentSchema = 1

    public var schema: Int
    public var name: String
    /// Random per-incarnation id: part of every idempotency token and resource name, so that
    /// `start` → `stop` → `start` of the same name makes new resources.
    public var incarnation: String
    public var createdAt: Date
    public var updatedAt: Date
    public var phase: Phase
    /// The spec the cluster was started from, without secrets.
    public var spec: ClusterSpec
    public var resources: [ResourceRecord]
    public var launches: [LaunchRecord]
    public var nodes: [NodeRecord]
    /// When `cloudc setup` last finished on every node; nil while a setup is due (new nodes,
    /// a failed or never-run setup).
    public var setupCompletedAt: Date?
    /// A `resize` under way, recorded before it changes anything; cleared when it is done. One
    /// found by a later command was interrupted: that command finishes it first.
    public var resize: ResizeRecord?

    /// The group users log into: `frontend`, else the first group.
    public var frontendGroup: String? { spec.frontendGroup }

    public enum Phase: String, Sendable, Codable, Equatable {
        case starting, running, stopping
    }

    public init(name: String, incarnation: String, spec: ClusterSpec, now: Date) {
        self.schema = Self.currentSchema
        self.name = name
        self.incarnation = incarnation
        self.createdAt = now
        self.updatedAt = now
        self.phase = .starting
        self.spec = spec.redacted()
        self.resources = []
        self.launches = []
        self.nodes = []
    }

    public func node(named name: String) -> NodeRecord? { nodes.first { $0.name == name } }

    public mutating func upsert(_ node: NodeRecord) {
        if let i = nodes.firstIndex(where: { $0.name == node.name }) { nodes[i] = node } else { nodes.append(node) }
    }

    public mutating func upsert(_ resource: ResourceRecord) {
        if let i = resources.firstIndex(where: { $0.kind == resource.kind && $0.name == resource.name }) {
            resources[i] = resource
        } else {
            resources.append(resource)
        }
    }

    /// The node users log into: the first node of group `frontend`, else of the first group.
    public var frontend: NodeRecord? {
        let group = frontendGroup
        return nodes.filter { $0.group == group }.sorted { $0.name < $1.name }.first
    }

    /// A fresh incarnation id: 12 lowercase hex digits.
    public static func newIncarnation() -> String {
        Hex.random(bytes: 6)
    }
}

/// One `resize ±N GROUP`: the size it goes to and the nodes it removes, fixed when it begins so
/// that running it again after an interruption finishes it rather than repeating it.
public struct ResizeRecord: Sendable, Codable, Equatable {
    public var group: String
    public var delta: Int
    /// The group's node count once done.
    public var count: Int
    /// The nodes a shrink deletes, highest-numbered first (empty for a grow).
    public var removing: [String]
    /// A shrink that does not wait for the jobs on those nodes.
    public var force: Bool
    /// The cluster was configured when it began: the new nodes are configured too.
    public var configured: Bool
    public var startedAt: Date

    public init(group: String, delta: Int, count: Int, removing: [String], force: Bool, configured: Bool, startedAt: Date) {
        self.group = group; self.delta = delta; self.count = count; self.removing = removing
        self.force = force; self.configured = configured; self.startedAt = startedAt
    }

    /// As the user typed it: `resize +1 compute`.
    public var summary: String { "resize \(delta > 0 ? "+" : "")\(delta) \(group)" }
}

/// A cloud resource other than a VM that cloudc created for the cluster.
public struct ResourceRecord: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, Equatable {
        case keyPair = "key-pair"
        case securityGroup = "security-group"
        case firewall
        case floatingIP = "floating-ip"
        case bridge                          // local provider: the cluster's network bridge
        case sharedDirectory = "shared-directory"   // local provider: the host folder shared as /home
    }
    public enum Status: String, Sendable, Codable, Equatable {
        case creating, created, deleting
    }
    public var kind: Kind
    /// Deterministic name, known before the create call.
    public var name: String
    /// The cloud's id, known once created.
    public var id: String?
    public var status: Status

    public init(kind: Kind, name: String, id: String? = nil, status: Status = .creating) {
        self.kind = kind; self.name = name; self.id = id; self.status = status
    }
}

/// One create call for a batch of nodes of one group, recorded before it is made.
public struct LaunchRecord: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable, Equatable {
        case requested, launched
    }
    public var token: String
    public var group: String
    public var nodes: [String]
    public var status: Status
    public var requestedAt: Date
    public init(token: String, group: String, nodes: [String], status: Status = .requested, requestedAt: Date) {
        self.token = token; self.group = group; self.nodes = nodes; self.status = status; self.requestedAt = requestedAt
    }
}

public struct NodeRecord: Sendable, Codable, Equatable {
    public var name: String
    public var group: String
    public var instanceID: String?
    public var privateIP: String?
    public var publicIP: String?
    public var state: InstanceState
    public var flavor: String
    public var zone: String?
    /// The node's SSH host public keys (`ssh-ed25519 AAAA…`) as the provider told them out of
    /// band (never from the node's own SSH answer): pinned before the first connection.
    public var hostKeys: [String]?
    /// How to log in, where the node says (an own machine); nil: the cluster's login, port 22.
    public var login: NodeLogin?

    public init(name: String, group: String, instanceID: String? = nil, privateIP: String? = nil,
                publicIP: String? = nil, state: InstanceState, flavor: String, zone: String? = nil, hostKeys: [String]? = nil,
                login: NodeLogin? = nil) {
        self.name = name; self.group = group; self.instanceID = instanceID; self.privateIP = privateIP
        self.publicIP = publicIP; self.state = state; self.flavor = flavor; self.zone = zone; self.hostKeys = hostKeys
        self.login = login
    }

    /// Running and reachable: what `start` waits for.
    public var isReady: Bool { state == .running && privateIP != nil }
}

/// A VM's life, in the words common to all clouds.
public enum InstanceState: String, Sendable, Codable, Equatable {
    case requested      // recorded, not yet confirmed by the cloud
    case pending
    case running
    case stopping
    case stopped
    case terminating
    case terminated
    case error
    case unknown

    /// Counts as gone: no longer costs money and cannot come back.
    public var isGone: Bool { self == .terminated }
    /// Exists (or may exist) in the cloud.
    public var isLive: Bool { !isGone }
}

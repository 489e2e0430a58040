import Foundation

/// What a cloud reports about one VM of a cluster.
public struct CloudInstance: Sendable, Equatable {
    public var id: String
    public var node: String?
    public var group: String?
    public var launchToken: String?
    public var incarnation: String?
    public var state: InstanceState
    public var privateIP: String?
    public var publicIP: String?
    public var flavor: String?
    public var zone: String?
    /// Position within its launch batch (EC2 `amiLaunchIndex`).
    public var launchIndex: Int?
    /// The cloud's reason for an error state, where it gives one.
    public var fault: String?
    /// The instance's SSH host public keys where the provider knows them out of band (the local
    /// provider makes them itself); empty: trusted on first contact.
    public var hostKeys: [String] = []
    /// How to log in to it, where that differs per machine (own machines).
    public var login: NodeLogin?

    public init(id: String, node: String? = nil, group: String? = nil, launchToken: String? = nil,
                incarnation: String? = nil, state: InstanceState, privateIP: String? = nil,
                publicIP: String? = nil, flavor: String? = nil, zone: String? = nil,
                launchIndex: Int? = nil, fault: String? = nil) {
        self.id = id; self.node = node; self.group = group; self.launchToken = launchToken
        // Every provider's answer passes here: an address is one IP address, or none.
        self.incarnation = incarnation; self.state = state; self.privateIP = IPAddress.canonical(privateIP)
        self.publicIP = IPAddress.canonical(publicIP); self.flavor = flavor; self.zone = zone
        self.launchIndex = launchIndex; self.fault = fault
    }
}

/// Everything a provider needs to create the cluster's access resources (keys, firewall).
public struct AccessRequest: Sendable, Equatable {
    public var cluster: String
    public var incarnation: String
    /// CIDR allowed to reach port 22.
    public var sshFrom: String
    /// The login's OpenSSH public key line.
    public var publicKey: String
    public var loginUser: String
    public init(cluster: String, incarnation: String, sshFrom: String, publicKey: String, loginUser: String) {
        self.cluster = cluster; self.incarnation = incarnation; self.sshFrom = sshFrom
        self.publicKey = publicKey; self.loginUser = loginUser
    }
}

/// One create call for `nodes` of `group`, idempotent under `token`.
public struct LaunchRequest: Sendable, Equatable {
    public var cluster: String
    public var incarnation: String
    public var group: NodeGroupSpec
    public var nodes: [String]
    public var token: String
    public var image: String
    public var access: AccessRequest
    /// The access resources created before (with their cloud ids).
    public var resources: [ResourceRecord]
    /// The group is the frontend's: the only one SSH from `access.sshFrom` may reach.
    public var frontend: Bool
    /// The nodes get a public address (`ClusterSpec.hasPublicAddress`).
    public var publicAddress: Bool
    public init(cluster: String, incarnation: String, group: NodeGroupSpec, nodes: [String],
                token: String, image: String, access: AccessRequest, resources: [ResourceRecord],
                frontend: Bool = true, publicAddress: Bool = true) {
        self.cluster = cluster; self.incarnation = incarnation; self.group = group; self.nodes = nodes
        self.token = token; self.image = image; self.access = access; self.resources = resources
        self.frontend = frontend; self.publicAddress = publicAddress
    }
}

/// What the configurator must know about where nodes run.
public struct ProviderTraits: Sendable, Equatable {
    /// The provider already shares /home across the cluster's nodes (no NFS needed).
    public var sharedHome: Bool
    /// Nodes may use cgroups for SLURM's process tracking and limits (false in containers
    /// whose cgroups belong to the host).
    public var slurmCgroups: Bool
    /// Where the cloud tells running nodes' host keys, if it does (`hostKeys(nodes:)` answers,
    /// after a while: a guest agent or cloud-init publishes them): "guest attributes".
    public var hostKeySource: String?
    /// Setup makes the frontend the cluster's package cache: nodes without a public address have
    /// no other way out, and each package then comes from outside once per cluster. False where
    /// the nodes have a cache of their own nearby (a local cluster's, on this machine).
    public var packageCache: Bool
    /// The nodes are the user's own machines, lent to the cluster, not made for it: setup leaves
    /// their hostname and /etc/hosts alone and records what it changes, so `cloudc stop` can undo it.
    public var ownMachines: Bool
    public init(sharedHome: Bool = false, slurmCgroups: Bool = true, hostKeySource: String? = nil, packageCache: Bool = true,
                ownMachines: Bool = false) {
        self.sharedHome = sharedHome; self.slurmCgroups = slurmCgroups; self.hostKeySource = hostKeySource
        self.packageCache = packageCache; self.ownMachines = ownMachines
    }
}

/// One cloud. Nothing above this protocol knows which cloud it talks to.
///
/// Every method is safe to repeat: creates are idempotent (tokens, deterministic names),
/// deletes of something already gone succeed.
public protocol CloudProvider: Sendable {
    /// Checks that the image, flavors and GPU requests exist, before anything is created.
    func validate(_ spec: ClusterSpec) async throws

    /// Checks, before a resize records anything, that `group` of cluster `cluster` can grow by
    /// `count` nodes (own machines: that enough listed machines are free and fit to join).
    func validateGrowth(of group: NodeGroupSpec, by count: Int, cluster: String) async throws

    /// The access resources (key pair, firewall, …) this cloud needs for a cluster, named
    /// deterministically, not yet created.
    func plannedResources(for request: AccessRequest) -> [ResourceRecord]

    /// Creates one planned resource, or finds it if a previous attempt created it; returns it with its id.
    func create(_ resource: ResourceRecord, for request: AccessRequest) async throws -> ResourceRecord

    /// Deletes a resource; succeeds if it is already gone.
    func delete(_ resource: ResourceRecord) async throws

    /// Whether the resource still exists in the cloud.
    func exists(_ resource: ResourceRecord) async throws -> Bool

    /// Creates the request's nodes (one batch), tagging each with its node name.
    /// A repeat with the same token returns the same instances.
    func launch(_ request: LaunchRequest) async throws -> [CloudInstance]

    /// Every instance tagged with the cluster's name (and incarnation, when given), in any state
    /// the cloud still reports.
    func instances(cluster: String, incarnation: String?) async throws -> [CloudInstance]

    /// The incarnations (starts) of cluster `cluster` the cloud still holds anything of:
    /// instances by their tags, and resources by their names. What `stop` finds when the
    /// state file is gone.
    func incarnations(of cluster: String) async throws -> Set<String>

    /// Checks the cloud's quotas, where it reports them, against `nodes` more of each group
    /// (read-only). Returns what was checked in words (`12 of 24 CPUs free in us-central1`),
    /// nil where the cloud reports no quota; throws a `.quota` error naming what is short.
    func checkQuota(adding nodes: [(group: NodeGroupSpec, count: Int)], spec: ClusterSpec) async throws -> String?

    /// Tags an instance with its node name (for instances a cut-short launch left unnamed).
    func assign(node: String, cluster: String, instanceID: String) async throws

    /// Asks the cloud to delete these instances; succeeds for ones already gone.
    func terminate(_ instanceIDs: [String]) async throws

    /// Gives running nodes what a cloud attaches only once they run (OpenStack: floating IPs),
    /// finding what an earlier attempt attached. `nodes`: node name → instance id.
    /// Returns each node's public address where it has one.
    func attachPublicAddresses(cluster: String, incarnation: String, nodes: [String: String]) async throws -> [String: String]

    /// The SSH host keys (`type base64`) the cloud tells for running nodes out of band, so the
    /// first connection is checked rather than trusted. `nodes`: node name → instance id.
    /// A node missing from the answer has not published them (yet); an empty list: it published
    /// none and will not (its first contact is trusted).
    func hostKeys(nodes: [String: String]) async throws -> [String: [String]]

    /// What the configurator must know about this provider's nodes.
    var traits: ProviderTraits { get }
}

extension CloudProvider {
    /// From the instances alone (a cloud whose resources all go with its instances).
    public func incarnations(of cluster: String) async throws -> Set<String> {
        Set(try await instances(cluster: cluster, incarnation: nil).compactMap(\.incarnation))
    }

    /// The instances' incarnations and those in the names of resources that outlive the
    /// instances (security groups, firewall rules, key pairs): what a provider's
    /// `incarnations(of:)` finds.
    public func incarnations(of cluster: String, resourceNames names: [String]) async throws -> Set<String> {
        var found = Set(try await instances(cluster: cluster, incarnation: nil).compactMap(\.incarnation))
        for name in names where name.hasPrefix("cloudc-") {
            if let incarnation = incarnation(ofResourceNamed: name, cluster: cluster) { found.insert(incarnation) }
        }
        return found
    }

    /// The incarnation of `cluster` a resource named `name` was planned for (the names embed
    /// it, each provider in its own way), nil for a name no start of that cluster would give.
    public func incarnation(ofResourceNamed name: String, cluster: String) -> String? {
        let characters = Array(name)
        guard characters.count >= 12 else { return nil }
        for start in 0...(characters.count - 12) {
            let candidate = String(characters[start..<start + 12])
            guard candidate.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { continue }
            let probe = AccessRequest(cluster: cluster, incarnation: candidate, sshFrom: "", publicKey: "", loginUser: "")
            if plannedResources(for: probe).contains(where: { $0.name == name }) { return candidate }
        }
        return nil
    }

    /// A cloud that reports no quota.
    public func checkQuota(adding nodes: [(group: NodeGroupSpec, count: Int)], spec: ClusterSpec) async throws -> String? { nil }

    /// A cloud makes what it is asked for, or says at launch why not (quota, capacity).
    public func validateGrowth(of group: NodeGroupSpec, by count: Int, cluster: String) async throws {}

    /// Clouds: VMs with their own cgroups and no shared storage.
    public var traits: ProviderTraits { ProviderTraits() }

    /// No keys told out of band: the first contact is trusted (and pinned).
    public func hostKeys(nodes: [String: String]) async throws -> [String: [String]] { [:] }

    /// Most clouds give a node its public address when they create it.
    public func attachPublicAddresses(cluster: String, incarnation: String, nodes: [String: String]) async throws -> [String: String] {
        [:]
    }
}

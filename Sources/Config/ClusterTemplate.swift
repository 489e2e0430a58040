import CloudcCore

/// One entry of `clusters:` as the config writes it: references by name, groups resolved.
/// `CloudcConfig.clusterSpec(template:)` turns it into a `ClusterSpec`.
public struct ClusterTemplate: Sendable, Equatable {
    public var name: String
    /// The name of an entry of `clouds:`.
    public var cloud: String
    /// The name of an entry of `logins:` (`default` when the config leaves it out).
    public var login: String
    /// The name of an entry of `setups:`, if any.
    public var setup: String?
    /// The image nodes boot; nil only for provider local, which has a built-in one.
    public var image: String?
    /// CIDR allowed to reach SSH; nil means "the caller's own address".
    public var sshFrom: String?
    /// `slurm` or `local`; nil means the default (slurm).
    public var executor: ExecutorKind?
    /// The node groups, in config order.
    public var groups: [NodeGroupSpec]
    /// `shared_home: true`: the image or cloud already shares /home among the nodes.
    public var sharedHome: Bool?
    /// `autostop: 30m`: minutes of idleness before the cluster powers itself off.
    public var autostop: Int?

    public init(name: String, cloud: String, login: String, setup: String? = nil, image: String? = nil,
                sshFrom: String? = nil, executor: ExecutorKind? = nil, groups: [NodeGroupSpec], sharedHome: Bool? = nil,
                autostop: Int? = nil) {
        self.name = name; self.cloud = cloud; self.login = login; self.setup = setup; self.image = image
        self.sshFrom = sshFrom; self.executor = executor; self.groups = groups; self.sharedHome = sharedHome
        self.autostop = autostop
    }
}

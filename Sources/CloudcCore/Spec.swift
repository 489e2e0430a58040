/// The validated, fully resolved description of a cluster, as the config gives it.
/// Config parsing produces these; nothing here does I/O.

public enum ProviderKind: String, Sendable, Codable, Equatable, CaseIterable {
    case ec2, gce, openstack, local, ssh
}

/// How cloudc reaches a cluster's frontend (every other node of a cloud is reached through it).
public enum NetworkReach: String, Sendable, Codable, Equatable, CaseIterable {
    /// Over the internet, at the frontend's public address (the default).
    case publicAddress = "public"
    /// Over the cloud's private network, at the frontend's private address: this machine is in
    /// the VPC, or reaches it through a VPN or a bastion.
    case privateNetwork = "private"
}

/// One entry of `clouds:`. Provider-specific keys live in `settings`.
public struct CloudSpec: Sendable, Codable, Equatable {
    public var name: String
    public var provider: ProviderKind
    /// Another URL for the cloud's API (private cloud, region endpoint, test peer).
    public var endpoint: String?
    public var settings: ProviderSettings
    /// How this machine reaches the cloud's nodes (`reach:`); nil: over the internet, at the
    /// frontend's public address. Absent from older state files (decoded as nil).
    public var reach: NetworkReach?

    public init(name: String, provider: ProviderKind, endpoint: String? = nil, settings: ProviderSettings,
                reach: NetworkReach? = nil) {
        self.name = name
        self.provider = provider
        self.endpoint = endpoint
        self.settings = settings
        self.reach = reach
    }

    /// How this machine reaches the frontend: `reach:`, else over the internet, except on an
    /// OpenStack cloud without a floating IP network, whose nodes have fixed addresses only.
    public var effectiveReach: NetworkReach {
        if let reach { return reach }
        if case .openstack(let settings) = settings, settings.floatingIPNetwork == nil { return .privateNetwork }
        return .publicAddress
    }

    /// A copy without any inline secret, fit for the state file.
    public func redacted() -> CloudSpec {
        var copy = self
        copy.settings = settings.redacted()
        return copy
    }
}

public enum ProviderSettings: Sendable, Codable, Equatable {
    case ec2(EC2Settings)
    case gce(GCESettings)
    case openstack(OpenStackSettings)
    case local(LocalSettings)
    case ssh(OwnMachinesSettings)

    public func redacted() -> ProviderSettings {
        switch self {
        case .ec2(var s):
            s.secretAccessKey = nil
            s.sessionToken = nil
            return .ec2(s)
        case .openstack(var s):
            s.password = nil
            s.applicationCredentialSecret = nil
            return .openstack(s)
        case .gce, .local, .ssh:
            return self
        }
    }
}

public struct EC2Settings: Sendable, Codable, Equatable {
    public var region: String?
    public var profile: String?
    public var accessKeyID: String?
    public var secretAccessKey: String?
    public var sessionToken: String?
    public var vpc: String?
    public var subnet: String?
    public init(region: String? = nil, profile: String? = nil, accessKeyID: String? = nil,
                secretAccessKey: String? = nil, sessionToken: String? = nil,
                vpc: String? = nil, subnet: String? = nil) {
        self.region = region; self.profile = profile; self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey; self.sessionToken = sessionToken
        self.vpc = vpc; self.subnet = subnet
    }
}

public struct GCESettings: Sendable, Codable, Equatable {
    public var project: String?
    public var zones: [String]
    public var credentials: String?
    public var tokenEndpoint: String?
    public var network: String?
    public var subnetwork: String?
    public init(project: String? = nil, zones: [String] = [], credentials: String? = nil,
                tokenEndpoint: String? = nil, network: String? = nil, subnetwork: String? = nil) {
        self.project = project; self.zones = zones; self.credentials = credentials
        self.tokenEndpoint = tokenEndpoint; self.network = network; self.subnetwork = subnetwork
    }
}

public struct OpenStackSettings: Sendable, Codable, Equatable {
    public var cloud: String?
    public var region: String?
    public var network: String?
    public var floatingIPNetwork: String?
    public var authURL: String?
    public var username: String?
    public var password: String?
    public var projectName: String?
    public var userDomain: String?
    public var projectDomain: String?
    public var applicationCredentialID: String?
    public var applicationCredentialSecret: String?
    /// Which catalog endpoints to use: public, internal or admin; nil: clouds.yaml's, else public.
    public var interface: String?
    /// Where nodes start; nil: the cloud's default zone.
    public var availabilityZone: String?
    public init(cloud: String? = nil, region: String? = nil, network: String? = nil,
                floatingIPNetwork: String? = nil, authURL: String? = nil, username: String? = nil,
                password: String? = nil, projectName: String? = nil, userDomain: String? = nil,
                projectDomain: String? = nil, applicationCredentialID: String? = nil,
                applicationCredentialSecret: String? = nil, interface: String? = nil,
                availabilityZone: String? = nil) {
        self.cloud = cloud; self.region = region; self.network = network
        self.floatingIPNetwork = floatingIPNetwork; self.authURL = authURL; self.username = username
        self.password = password; self.projectName = projectName; self.userDomain = userDomain
        self.projectDomain = projectDomain; self.applicationCredentialID = applicationCredentialID
        self.applicationCredentialSecret = applicationCredentialSecret
        self.interface = interface; self.availabilityZone = availabilityZone
    }
}

public struct LocalSettings: Sendable, Codable, Equatable {
    public static let defaultRoot = "/var/lib/cloudc/local"
    public static let defaultImageDir = "/var/lib/cloudc/images"
    public static let defaultMirror = "http://deb.debian.org/debian"

    /// The bridge's IPv4 network, e.g. 10.77.0.0/24; nil: the first free /24 of 10.77.0.0/16.
    public var subnet: String?
    /// Where clusters' node folders and shared homes live; nil: `defaultRoot`.
    public var root: String?
    /// Where node images are built, one folder per image; nil: `defaultImageDir`.
    public var imageDir: String?
    /// The Debian mirror debootstrap builds images from; nil: `defaultMirror`.
    public var mirror: String?
    /// The port of an apt cache on this machine (apt-cacher-ng's 3142), which the nodes, having no
    /// route out, fetch packages through at their bridge's address; nil: the nodes get none.
    public var packageCachePort: Int?

    public init(subnet: String? = nil, root: String? = nil, imageDir: String? = nil, mirror: String? = nil,
                packageCachePort: Int? = nil) {
        self.subnet = subnet; self.root = root; self.imageDir = imageDir; self.mirror = mirror
        self.packageCachePort = packageCachePort
    }
}

/// `provider: ssh`: machines the user already has, listed by address or by a Host alias of
/// their ssh config, lent to clusters one at a time.
public struct OwnMachinesSettings: Sendable, Codable, Equatable {
    public var hosts: [OwnHost]
    /// Login user, port and key for every host that does not say its own; nil: what the ssh
    /// config gives for the host (`ssh -G`), then the cluster's login.
    public var user: String?
    public var port: Int?
    public var key: String?
    /// A host every connection goes through (`user@host:port`, OpenSSH's ProxyJump), or nil.
    public var jump: String?
    /// The ssh config aliases are resolved with; nil: ~/.ssh/config.
    public var sshConfig: String?
    public init(hosts: [OwnHost], user: String? = nil, port: Int? = nil, key: String? = nil, jump: String? = nil,
                sshConfig: String? = nil) {
        self.hosts = hosts; self.user = user; self.port = port; self.key = key; self.jump = jump; self.sshConfig = sshConfig
    }

    public func host(named name: String) -> OwnHost? { hosts.first { $0.host == name } }
}

/// One listed machine: `host` is how the config names it (an alias or an address).
public struct OwnHost: Sendable, Codable, Equatable {
    public var host: String
    public var address: String?
    public var user: String?
    public var port: Int?
    public var key: String?
    public init(host: String, address: String? = nil, user: String? = nil, port: Int? = nil, key: String? = nil) {
        self.host = host; self.address = address; self.user = user; self.port = port; self.key = key
    }
}

/// How cloudc logs into one node where that differs per node (an own machine): resolved when
/// the machine joined the cluster, so every later command connects the same way.
public struct NodeLogin: Sendable, Codable, Equatable {
    /// The machine as the cloud lists it.
    public var host: String
    public var user: String
    public var port: Int
    /// The private key; nil: the cluster's login's.
    public var key: String?
    public init(host: String, user: String, port: Int = 22, key: String? = nil) {
        self.host = host; self.user = user; self.port = port; self.key = key
    }
}

/// Where setup records, on one of the user's own machines, what it changed there (files, with
/// copies of the ones it replaced; packages; services; which services ran before), so that
/// `cloudc stop` can undo it.
public enum OwnMachineRecord {
    /// Its own folder: /var/lib/cloudc may hold a local cloud's clusters and images, which the
    /// undo must never touch.
    public static let folder = "/var/lib/cloudc/own-machine"
}

/// One entry of `logins:`: how to log into the image.
public struct LoginSpec: Sendable, Codable, Equatable {
    public var name: String
    public var user: String
    public var privateKey: String
    public var publicKey: String
    public init(name: String, user: String, privateKey: String, publicKey: String) {
        self.name = name; self.user = user; self.privateKey = privateKey; self.publicKey = publicKey
    }
}

/// One entry of `setups:`: which playbook configures the nodes, with variables.
public struct SetupSpec: Sendable, Codable, Equatable {
    public var name: String
    public var playbook: String
    public var vars: [String: String]
    public init(name: String, playbook: String, vars: [String: String] = [:]) {
        self.name = name; self.playbook = playbook; self.vars = vars
    }
}

public struct GPURequest: Sendable, Codable, Equatable {
    /// The cloud's accelerator type (GCE `nvidia-tesla-t4`); nil where the flavor implies it (EC2 g4dn).
    public var type: String?
    public var count: Int
    public init(type: String? = nil, count: Int) { self.type = type; self.count = count }
}

/// A node group of a cluster template (`frontend`, `compute`, `gpu`, …).
public struct NodeGroupSpec: Sendable, Codable, Equatable {
    public var name: String
    public var count: Int
    public var min: Int
    public var flavor: String
    public var image: String?
    public var gpus: GPURequest?
    public var spot: Bool
    public var diskGB: Int?
    /// `public_ip:` — whether the group's nodes get a public address; nil: the frontend's group
    /// only (`ClusterSpec.hasPublicAddress`).
    public var publicIP: Bool?
    /// Own machines: the listed hosts the group's nodes are taken from, in order; nil: the hosts
    /// no group names.
    public var hosts: [String]?
    public init(name: String, count: Int, min: Int = 0, flavor: String, image: String? = nil,
                gpus: GPURequest? = nil, spot: Bool = false, diskGB: Int? = nil, publicIP: Bool? = nil,
                hosts: [String]? = nil) {
        self.name = name; self.count = count; self.min = min; self.flavor = flavor
        self.image = image; self.gpus = gpus; self.spot = spot; self.diskGB = diskGB; self.publicIP = publicIP
        self.hosts = hosts
    }
}

/// A cluster template from `clusters:`, its references resolved.
public struct ClusterSpec: Sendable, Codable, Equatable {
    /// The template's name in the config.
    public var template: String
    public var cloud: CloudSpec
    public var login: LoginSpec
    public var setup: SetupSpec?
    public var image: String
    /// CIDR allowed to reach SSH; nil means "the caller's own address".
    public var sshFrom: String?
    /// Groups in config order; the first is where users log in unless one is called `frontend`.
    public var groups: [NodeGroupSpec]
    /// How `cloudc submit` runs jobs: `slurm` or `local`; nil: `slurm`. Absent from state files
    /// written before it existed, which still decode (an optional decodes as nil when missing).
    public var executor: ExecutorKind?
    /// The nodes' image or cloud already shares /home among them (a Filestore mount, an image
    /// that mounts one): setup serves and mounts none. nil (older states): false.
    public var sharedHome: Bool?
    /// Minutes of idleness (no job, nobody logged in) after which the cluster powers itself
    /// off; nil: never.
    public var autostop: Int?

    public init(template: String, cloud: CloudSpec, login: LoginSpec, setup: SetupSpec? = nil,
                image: String, sshFrom: String? = nil, groups: [NodeGroupSpec], executor: ExecutorKind? = nil,
                sharedHome: Bool? = nil, autostop: Int? = nil) {
        self.template = template; self.cloud = cloud; self.login = login; self.setup = setup
        self.image = image; self.sshFrom = sshFrom; self.groups = groups; self.executor = executor
        self.sharedHome = sharedHome; self.autostop = autostop
    }

    public func group(named name: String) -> NodeGroupSpec? { groups.first { $0.name == name } }

    /// The group users log into: `frontend`, else the first group.
    public var frontendGroup: String? { group(named: "frontend")?.name ?? groups.first?.name }

    /// Whether a group's nodes get a public address: the frontend's by default, any other only
    /// when it says `public_ip: true`. Public IPv4 addresses are billed by the hour on EC2 and
    /// GCE and scarce on OpenStack, and each is one more sshd facing the internet.
    public func hasPublicAddress(_ group: NodeGroupSpec) -> Bool {
        group.publicIP ?? (group.name == frontendGroup)
    }

    /// How this machine reaches the frontend.
    public var reach: NetworkReach { cloud.effectiveReach }

    public func redacted() -> ClusterSpec {
        var copy = self
        copy.cloud = cloud.redacted()
        return copy
    }
}

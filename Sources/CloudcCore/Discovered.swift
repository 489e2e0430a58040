/// What `cloudc init` found on this machine to fill a starter config with: the user's SSH key
/// and the cloud accounts their own tools (gcloud, aws, openstack) are already set up for.
/// Paths and names only: never a secret.
public struct Discovered: Sendable, Equatable {
    /// The user's private SSH key (its `.pub` beside it), if one was found.
    public var sshKey: String?
    public var gce: GCE?
    public var aws: AWS?
    public var openstack: OpenStack?

    public struct GCE: Sendable, Equatable {
        /// A credentials file to name in the config (nil: found by the usual search at run time).
        public var credentials: String?
        public var project: String?
        public var zone: String?
        /// Where the credentials came from, for the comment beside them.
        public var source: String
        public init(credentials: String? = nil, project: String? = nil, zone: String? = nil, source: String) {
            self.credentials = credentials; self.project = project; self.zone = zone; self.source = source
        }
    }

    public struct AWS: Sendable, Equatable {
        /// The profile to name (nil: the environment's keys or [default]).
        public var profile: String?
        public var region: String?
        public var source: String
        public init(profile: String? = nil, region: String? = nil, source: String) {
            self.profile = profile; self.region = region; self.source = source
        }
    }

    public struct OpenStack: Sendable, Equatable {
        /// The clouds.yaml entry to name (nil: the OS_* variables).
        public var cloud: String?
        public var region: String?
        public var source: String
        public init(cloud: String? = nil, region: String? = nil, source: String) {
            self.cloud = cloud; self.region = region; self.source = source
        }
    }

    public init(sshKey: String? = nil, gce: GCE? = nil, aws: AWS? = nil, openstack: OpenStack? = nil) {
        self.sshKey = sshKey; self.gce = gce; self.aws = aws; self.openstack = openstack
    }
}

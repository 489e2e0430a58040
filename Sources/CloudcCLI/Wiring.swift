import CloudcCore
import Config
import Foundation
import Lifecycle
import Operations
import Providers
import State

/// The one place where concrete parts meet: config, state store, providers, lifecycle.
struct Wiring {
    let context: CLIContext
    let options: GlobalOptions
    /// `cloudc stop --purge`: own machines lose the packages setup installed, too.
    var purgeOwnMachines = false

    init(_ options: GlobalOptions) {
        self.context = CLIContext.current
        self.options = options
    }

    var store: StateStore { StateStore(home: context.cloudcHome) }

    var configPath: String {
        if let path = options.config { return absolutePath(path) }
        return ConfigLoader.defaultPath(environment: context.environment, homeDirectory: context.homeDirectory)
    }

    func expandTilde(_ path: String) -> String { HomePath.expand(path, home: context.homeDirectory) }

    /// The config file; with no file (and no -c), the built-in config: template `local`.
    func loadConfig() throws -> CloudcConfig {
        if usesBuiltinConfig {
            return try StarterConfig.loadBuiltin(privateKey: builtinKey, environment: context.environment,
                                                 homeDirectory: context.homeDirectory)
        }
        return try ConfigLoader.load(path: configPath, environment: context.environment, homeDirectory: context.homeDirectory)
    }

    /// No config file at the default place and none named with -c.
    var usesBuiltinConfig: Bool {
        options.config == nil && !FileManager.default.fileExists(atPath: configPath)
    }

    /// The user's own key (~/.ssh/id_ed25519, …), else the one cloudc makes in $CLOUDC_HOME.
    var builtinKey: String {
        AccountDiscovery(environment: context.environment, homeDirectory: context.homeDirectory,
                         workingDirectory: FileManager.default.currentDirectoryPath).sshKey()
            ?? LoginKey.ownPath(cloudcHome: context.cloudcHome)
    }

    var progress: any ProgressSink {
        options.quiet ? SilentProgress() : StderrProgress(context: context)
    }

    var transport: any HTTPTransport { URLSessionTransport() }

    /// Polling pace; `CLOUDC_POLL_SECONDS` shortens the first wait (for test clouds that answer at once).
    var waiting: ClusterLifecycle.Waiting {
        var waiting = ClusterLifecycle.Waiting()
        if let text = context.environment["CLOUDC_POLL_SECONDS"], let seconds = Double(text), seconds > 0 {
            waiting.initialDelay = seconds
            waiting.maxDelay = max(seconds, min(waiting.maxDelay, seconds * 8))
        }
        return waiting
    }

    func provider(for cloud: CloudSpec, fullSpec: CloudSpec? = nil) throws -> any CloudProvider {
        switch cloud.settings {
        case .ec2(let settings):
            let resolver = AWSCredentialResolver(environment: context.environment, homeDirectory: context.homeDirectory)
            let credentials = try resolver.credentials(for: settings)
            let region = try resolver.region(for: settings)
            let endpointText = cloud.endpoint ?? EC2Client.defaultEndpoint(region: region)?.absoluteString ?? ""
            guard let endpoint = URL(string: endpointText), endpoint.host != nil else {
                throw CloudcError(.config, "clouds.\(cloud.name).endpoint '\(endpointText)' is not a URL",
                                  fix: "use a URL such as https://ec2.\(region).amazonaws.com/")
            }
            let client = EC2Client(endpoint: endpoint, region: region, credentials: credentials, transport: transport)
            return EC2Provider(client: client, settings: settings, credentialsSource: credentials.source)
        case .local(let settings):
            return LocalProvider(cloudName: cloud.name, settings: settings, progress: progress)
        case .gce(let settings):
            return try gceProvider(cloud: cloud, settings: settings)
        case .openstack(let settings):
            return try openStackProvider(cloud: cloud, settings: settings)
        case .ssh(let settings):
            return OwnMachinesProvider(cloudName: cloud.name, settings: settings, cloudcHome: context.cloudcHome,
                                       homeDirectory: context.homeDirectory, purge: purgeOwnMachines, progress: progress)
        }
    }

    /// OpenStack: credentials from the config, clouds.yaml or OS_* variables; a Keystone session
    /// that keeps a project-scoped token and the catalog; the Nova/Neutron/Glance client.
    /// A cloud's `endpoint:` stands for the Keystone URL when `auth_url:` is not given.
    func openStackProvider(cloud: CloudSpec, settings: OpenStackSettings) throws -> OpenStackProvider {
        var settings = settings
        if settings.authURL == nil, let endpoint = cloud.endpoint { settings.authURL = endpoint }
        let resolver = OpenStackCredentialResolver(environment: context.environment, homeDirectory: context.homeDirectory,
                                                   workingDirectory: FileManager.default.currentDirectoryPath)
        let auth = try resolver.resolve(settings, cloud: cloud.name)
        let session = KeystoneSession(auth: auth, transport: URLSessionTransport(timeout: 30))
        let client = OpenStackClient(auth: session, transport: URLSessionTransport(timeout: 60))
        let pace = waiting
        return OpenStackProvider(client: client, settings: settings, cloudName: cloud.name, credentialsSource: auth.source,
                                 progress: progress, poller: Poller(initialDelay: pace.initialDelay, maxDelay: pace.maxDelay, timeout: 1800))
    }

    /// Compute Engine: credentials (config, GOOGLE_APPLICATION_CREDENTIALS, gcloud's
    /// application-default credentials, metadata server), a cached token, the REST client.
    func gceProvider(cloud: CloudSpec, settings: GCESettings) throws -> GCEProvider {
        let resolver = GoogleCredentialResolver(environment: context.environment, homeDirectory: context.homeDirectory)
        let credentials = try resolver.credentials(for: settings, cloud: cloud.name)
        let project = try resolver.project(for: settings, credentials: credentials, cloud: cloud.name)
        guard let baseURL = GCEClient.baseURL(endpoint: cloud.endpoint) else {
            throw CloudcError(.config, "clouds.\(cloud.name).endpoint '\(cloud.endpoint ?? "")' is not an http(s) URL",
                              fix: "use a URL such as \(GCEClient.defaultBaseURL), or remove endpoint:")
        }
        let fetcher = GoogleTokenFetcher(credentials: credentials, transport: URLSessionTransport(timeout: 30),
                                         metadataTransport: URLSessionTransport(timeout: 3))
        // operations.wait holds a request open for up to two minutes.
        let client = GCEClient(baseURL: baseURL, project: project, auth: GoogleAuth(fetcher: fetcher),
                               transport: URLSessionTransport(timeout: 150))
        return GCEProvider(client: client, settings: settings, credentialsSource: credentials.source, progress: progress)
    }

    /// The use cases, with this command's parts: the state store, the providers, SSH pacing, where
    /// the playbooks are, and the terminal for what they tell.
    var operations: Operations {
        let wiring = self
        let clouds = Clouds(
            provider: { try wiring.provider(for: $0) },
            cloudOf: { wiring.cloudSpec(for: $0) },
            callerAddress: { template in
                try await CallerAddress.cidr(
                    transport: wiring.transport,
                    serviceURL: wiring.context.environment["CLOUDC_CHECKIP_URL"] ?? CallerAddress.defaultServiceURL,
                    template: template)
            },
            waiting: waiting)
        return Operations(store: store, clouds: clouds, nodes: NodeAccess(connector: connector, fanOut: fanOut),
                          progress: progress, events: PrintedEvents(context: context), home: context.homeDirectory,
                          shareDirectory: { try wiring.shareDirectory() })
    }

    /// The cluster a command acts on: the one named, else the one chosen with `cloudc use`,
    /// else the only one there is.
    func clusterName(_ given: String?) throws -> String {
        if let given {
            try StateStore.validate(name: given)
            return given
        }
        let names = try store.names()
        if let current = store.currentCluster(), names.contains(current) { return current }
        switch names.count {
        case 1: return names[0]
        case 0: throw CloudcError(.notFound, "there is no cluster", fix: "start one with: cloudc start TEMPLATE (see cloudc list-templates)")
        default:
            throw CloudcError(.usage, "there are \(names.count) clusters (\(names.joined(separator: ", "))) and none was named",
                              fix: "name one, or choose one for later commands with: cloudc use NAME")
        }
    }

    func loadState(_ name: String) throws -> ClusterState { try operations.loadState(name) }

    /// The cloud spec to talk to for an existing cluster: the config's entry of that name
    /// (it may hold inline credentials the state never stores), else the state's copy.
    func cloudSpec(for state: ClusterState) -> CloudSpec {
        if let config = try? loadConfig(), let cloud = config.clouds[state.spec.cloud.name],
           cloud.provider == state.spec.cloud.provider {
            return cloud
        }
        return state.spec.cloud
    }
}

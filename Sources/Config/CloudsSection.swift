import CloudcCore

/// `clouds:`: one `CloudSpec` per entry, with the keys its provider allows.
enum CloudsSection {
    static let commonKeys = ["provider", "endpoint"]

    /// The keys each provider allows besides `provider` and `endpoint`.
    static let providerKeys: [ProviderKind: [String]] = [
        .ec2: ["region", "profile", "access_key_id", "secret_access_key", "session_token", "vpc", "subnet", "reach"],
        .gce: ["project", "zone", "zones", "credentials", "token_endpoint", "network", "subnetwork", "reach"],
        .openstack: ["cloud", "region", "network", "floating_ip_network", "auth_url", "username", "password",
                     "project_name", "user_domain_name", "project_domain_name",
                     "application_credential_id", "application_credential_secret", "interface", "availability_zone",
                     "reach"],
        .local: ["subnet", "root", "image_dir", "mirror", "package_cache_port"],
        .ssh: ["hosts", "user", "port", "key", "jump", "ssh_config"],
    ]
    static let ownHostKeys = ["host", "address", "user", "port", "key"]

    /// The clouds, in file order.
    static func parse(_ value: ConfigValue?) throws -> [CloudSpec] {
        guard let value else { return [] }
        return try value.mapping().entries.map { try cloud(named: $0.key, $0.value) }
    }

    static func cloud(named name: String, _ value: ConfigValue) throws -> CloudSpec {
        let map = try value.mapping()
        let kinds = ProviderKind.allCases.map(\.rawValue)
        let providerValue = try map.require("provider", "every cloud names its provider (\(kinds.joined(separator: ", ")))",
                                            example: "gce")
        let providerText = try providerValue.string()
        guard let provider = ProviderKind(rawValue: providerText) else {
            let hint = Suggestions.closest(to: providerText, in: kinds).map { "; did you mean '\($0)'?" } ?? ""
            throw providerValue.error("unknown provider '\(providerText)'\(hint)",
                                      fix: "use one of: \(kinds.joined(separator: ", "))")
        }
        try rejectOtherProvidersKeys(map, provider: provider)
        try map.rejectUnknownKeys(allowed: commonKeys + (providerKeys[provider] ?? []))

        var endpoint: String?
        if let text = try map.string("endpoint"), let found = map["endpoint"] {
            try checkURL(text, found)
            endpoint = text
        }
        let settings: ProviderSettings
        switch provider {
        case .ec2: settings = .ec2(try ec2(map))
        case .gce: settings = .gce(try gce(map))
        case .openstack: settings = .openstack(try openStack(map))
        case .local: settings = .local(try local(map))
        case .ssh: settings = .ssh(try ownMachines(map, cloud: name))
        }
        return CloudSpec(name: name, provider: provider, endpoint: endpoint, settings: settings, reach: try reach(map))
    }

    /// `reach: public | private`: how this machine gets to the cluster's frontend.
    static func reach(_ map: ConfigMapping) throws -> NetworkReach? {
        guard let text = try map.string("reach"), let found = map["reach"] else { return nil }
        guard let reach = NetworkReach(rawValue: text) else {
            let names = NetworkReach.allCases.map(\.rawValue)
            let hint = Suggestions.closest(to: text, in: names).map { "; did you mean '\($0)'?" } ?? ""
            throw found.error("unknown reach '\(text)'\(hint)",
                              fix: "use 'public' (over the internet, the default) or 'private' (this machine reaches the "
                                  + "cloud's private network: a VPN, a bastion, a machine in the same VPC)")
        }
        return reach
    }

    // MARK: Providers

    static func ec2(_ map: ConfigMapping) throws -> EC2Settings {
        let settings = EC2Settings(
            region: try map.string("region"), profile: try map.string("profile"),
            accessKeyID: try map.string("access_key_id"), secretAccessKey: try map.string("secret_access_key"),
            sessionToken: try map.string("session_token"), vpc: try map.string("vpc"), subnet: try map.string("subnet"))
        try requireTogether(map, "access_key_id", settings.accessKeyID, "secret_access_key", settings.secretAccessKey)
        if settings.sessionToken != nil, settings.accessKeyID == nil {
            throw map.missing("access_key_id", "a session_token belongs to an access key", example: "AKIA…")
        }
        return settings
    }

    static func gce(_ map: ConfigMapping) throws -> GCESettings {
        var zones: [String]
        if let single = map["zone"] {
            if let list = map.entry("zones") {
                throw map.value.context.error(at: list.keyMark, map.path.key("zones"), "both 'zone' and 'zones' are given",
                                              fix: "keep one: 'zones: [a, b]' (later zones are capacity fallbacks) or 'zone: a'")
            }
            zones = [try single.string()]
        } else if let list = map["zones"] {
            zones = try list.list().map { element in
                let zone = try element.string()
                guard !zone.isEmpty else { throw element.error("empty zone", fix: "write a zone such as us-central1-a") }
                return zone
            }
        } else {
            zones = []
        }
        zones = zones.filter { !$0.isEmpty }   // `zone: ${Z:-}` that expands to nothing is not given
        if zones.isEmpty {
            throw map.missing("zones", "a gce cloud needs at least one zone", example: "[us-central1-a]")
        }
        let tokenEndpoint = try map.string("token_endpoint")
        if let tokenEndpoint, let found = map["token_endpoint"] { try checkURL(tokenEndpoint, found) }
        return GCESettings(project: try map.string("project"), zones: zones, credentials: try map.path("credentials"),
                           tokenEndpoint: tokenEndpoint, network: try map.string("network"),
                           subnetwork: try map.string("subnetwork"))
    }

    /// The catalog interfaces a Keystone endpoint can have.
    static let openStackInterfaces = ["public", "internal", "admin"]

    static func openStack(_ map: ConfigMapping) throws -> OpenStackSettings {
        let authURL = try map.string("auth_url")
        if let authURL, let found = map["auth_url"] { try checkURL(authURL, found) }
        let interface = try map.string("interface")
        if let interface, let found = map["interface"], !openStackInterfaces.contains(interface) {
            let hint = Suggestions.closest(to: interface, in: openStackInterfaces).map { "; did you mean '\($0)'?" } ?? ""
            throw found.error("unknown interface '\(interface)'\(hint)",
                              fix: "use one of: \(openStackInterfaces.joined(separator: ", ")) (the default is public)")
        }
        let settings = OpenStackSettings(
            cloud: try map.string("cloud"), region: try map.string("region"), network: try map.string("network"),
            floatingIPNetwork: try map.string("floating_ip_network"), authURL: authURL,
            username: try map.string("username"), password: try map.string("password"),
            projectName: try map.string("project_name"), userDomain: try map.string("user_domain_name"),
            projectDomain: try map.string("project_domain_name"),
            applicationCredentialID: try map.string("application_credential_id"),
            applicationCredentialSecret: try map.string("application_credential_secret"),
            interface: interface, availabilityZone: try map.string("availability_zone"))
        try requireTogether(map, "application_credential_id", settings.applicationCredentialID,
                            "application_credential_secret", settings.applicationCredentialSecret)
        return settings
    }

    static func local(_ map: ConfigMapping) throws -> LocalSettings {
        let subnet = try map.string("subnet")
        if let subnet, let found = map["subnet"], let problem = NetworkValues.cidrProblem(subnet, families: .ipv4Only) {
            throw found.error(problem.what, fix: problem.fix)
        }
        let mirror = try map.string("mirror")
        if let mirror, let found = map["mirror"] { try checkURL(mirror, found) }
        let port = try map.int("package_cache_port")
        if let port, !(1...65535).contains(port), let found = map["package_cache_port"] {
            throw found.error("package_cache_port \(port) is not a TCP port",
                              fix: "give the port your apt cache listens on, e.g. 3142 for apt-cacher-ng")
        }
        return LocalSettings(subnet: subnet, root: try map.path("root"), imageDir: try map.path("image_dir"), mirror: mirror,
                             packageCachePort: port)
    }

    /// `provider: ssh`: the listed machines, each once, with what they override.
    static func ownMachines(_ map: ConfigMapping, cloud: String) throws -> OwnMachinesSettings {
        let hostsValue = try map.require("hosts", "the machines of the cloud: addresses or Host aliases of your ssh config",
                                         example: "[gpu1, gpu2, 10.0.0.7]")
        var hosts: [OwnHost] = []
        for element in try hostsValue.list() {
            var host: OwnHost
            if case .mapping = element.node {
                let entry = try element.mapping()
                try entry.rejectUnknownKeys(allowed: ownHostKeys)
                host = OwnHost(host: try entry.requiredString("host", "the name the cluster templates and cloudc call the machine by",
                                                              example: "gpu1"),
                               address: try entry.string("address"), user: try entry.string("user"),
                               port: try port(entry, "port"), key: try entry.path("key"))
            } else {
                host = OwnHost(host: try element.string())
            }
            guard host.host.range(of: #"^[A-Za-z0-9_][A-Za-z0-9_.:-]*$"#, options: .regularExpression) != nil else {
                throw element.error("'\(host.host)' is not a host name, address or ssh alias",
                                    fix: "use letters, digits, '.', '-', '_' and ':' (an alias of your ssh config, a name or an address)")
            }
            if hosts.contains(where: { $0.host == host.host }) {
                throw element.error("host '\(host.host)' is listed twice", fix: "list each machine once")
            }
            hosts.append(host)
        }
        guard !hosts.isEmpty else {
            throw hostsValue.error("no hosts; an ssh cloud needs at least one machine", fix: "list them, e.g. hosts: [gpu1, gpu2]")
        }
        let jump = try map.string("jump")
        if let jump, JumpHost(jump) == nil, let found = map["jump"] {
            throw found.error("'\(jump)' is not a jump host", fix: "write [user@]host[:port], e.g. jump: me@bastion.example.org")
        }
        return OwnMachinesSettings(hosts: hosts, user: try map.string("user"), port: try port(map, "port"),
                                   key: try map.path("key"), jump: jump, sshConfig: try map.path("ssh_config"))
    }

    private static func port(_ map: ConfigMapping, _ key: String) throws -> Int? {
        guard let found = map[key] else { return nil }
        let port = try found.int()
        guard (1...65535).contains(port) else {
            throw found.error("port \(port) is not a TCP port", fix: "give the port the machine's sshd listens on, e.g. 22")
        }
        return port
    }

    // MARK: Checks

    /// A key of another provider (`zones` on an ec2 cloud) gets a message that says so.
    private static func rejectOtherProvidersKeys(_ map: ConfigMapping, provider: ProviderKind) throws {
        let own = Set(commonKeys + (providerKeys[provider] ?? []))
        for entry in map.entries where !own.contains(entry.key) {
            let owners = ProviderKind.allCases.filter { providerKeys[$0]?.contains(entry.key) ?? false }
            guard !owners.isEmpty else { continue }
            let names = owners.map(\.rawValue).joined(separator: ", ")
            throw map.value.context.error(
                at: entry.keyMark, map.path.key(entry.key),
                "'\(entry.key)' is a key of provider \(names), not of \(provider.rawValue)",
                fix: "remove it, or use one of the keys of \(provider.rawValue): \(Suggestions.list(commonKeys + (providerKeys[provider] ?? [])))")
        }
    }

    private static func requireTogether(_ map: ConfigMapping, _ first: String, _ firstValue: String?,
                                        _ second: String, _ secondValue: String?) throws {
        if firstValue != nil, secondValue == nil {
            throw map.missing(second, "'\(first)' is given, and the two go together", example: "…")
        }
        if secondValue != nil, firstValue == nil {
            throw map.missing(first, "'\(second)' is given, and the two go together", example: "…")
        }
    }

    private static func checkURL(_ text: String, _ value: ConfigValue) throws {
        if let problem = NetworkValues.urlProblem(text) { throw value.error(problem.what, fix: problem.fix) }
    }
}

import CloudcCore
import Yams

/// `clusters:`: cluster templates, their references checked against the other sections.
struct ClustersSection {
    static let keys = ["cloud", "login", "setup", "image", "ssh_from", "executor", "shared_home", "autostop", "groups"]
    static let groupKeys = ["count", "min", "flavor", "image", "gpus", "spot", "disk_gb", "public_ip", "hosts"]
    static let gpuKeys = ["type", "count"]
    static let defaultLogin = "default"
    static let localFlavor = "container"
    static let ownFlavor = "host"

    let clouds: [CloudSpec]
    let logins: [LoginSpec]
    let setups: [SetupSpec]

    /// The templates, in file order.
    func parse(_ value: ConfigValue?) throws -> [ClusterTemplate] {
        guard let value else { return [] }
        return try value.mapping().entries.map { try template(named: $0.key, keyMark: $0.keyMark, $0.value) }
    }

    func template(named name: String, keyMark: Mark?, _ value: ConfigValue) throws -> ClusterTemplate {
        try Names.check(name, kind: "cluster template", maxLength: Names.templateMaxLength,
                        keyMark: keyMark, path: value.path, context: value.context)
        let map = try value.mapping()
        try map.rejectUnknownKeys(allowed: Self.keys)

        let cloudValue = try map.require("cloud", "the entry of 'clouds:' this cluster runs on",
                                         example: clouds.first?.name ?? "NAME")
        let cloudName = try reference(cloudValue, section: "clouds", kind: "cloud", names: clouds.map(\.name))
        guard let cloud = clouds.first(where: { $0.name == cloudName }) else {
            throw cloudValue.error("no cloud named '\(cloudName)'", fix: "define it under 'clouds:'")
        }

        let login: String
        if cloud.provider == .ssh {
            if let loginValue = map["login"] {
                throw loginValue.error("an ssh cloud's machines are logged into as the cloud says, not with a login of 'logins:'",
                                       fix: "remove 'login:' and give 'user:' and 'key:' on cloud \(cloud.name) or on its hosts")
            }
            login = ""   // each machine's own login: the host's, the cloud's, or the ssh config's
        } else if let loginValue = map["login"] {
            login = try reference(loginValue, section: "logins", kind: "login", names: logins.map(\.name))
        } else if logins.contains(where: { $0.name == Self.defaultLogin }) {
            login = Self.defaultLogin
        } else {
            throw map.missing("login", "there is no login named '\(Self.defaultLogin)' to use instead",
                              example: logins.first?.name ?? "default")
        }

        let setup = try map["setup"].map { try reference($0, section: "setups", kind: "setup", names: setups.map(\.name)) }

        let image = try map.string("image")
        if image == nil, cloud.provider != .local, cloud.provider != .ssh {
            throw map.missing("image", "provider \(cloud.provider.rawValue) needs the image nodes boot",
                              example: Self.exampleImage[cloud.provider] ?? "IMAGE")
        }

        var sshFrom: String?
        if let text = try map.string("ssh_from"), let found = map["ssh_from"] {
            if let problem = NetworkValues.cidrProblem(text, families: .ipv4OrIPv6) {
                throw found.error(problem.what, fix: problem.fix)
            }
            sshFrom = text
        }

        var executor: ExecutorKind?
        if let text = try map.string("executor"), let found = map["executor"] {
            guard let kind = ExecutorKind(rawValue: text) else {
                let hint = Suggestions.closest(to: text, in: ExecutorKind.names).map { "; did you mean '\($0)'?" } ?? ""
                throw found.error("unknown executor '\(text)'\(hint)", fix: "use one of: \(ExecutorKind.names.joined(separator: ", "))")
            }
            executor = kind
        }

        let groupsValue = try map.require("groups", "a cluster needs at least one node group",
                                          example: "{frontend: {count: 1, flavor: FLAVOR}}")
        let groupsMap = try groupsValue.mapping()
        guard !groupsMap.entries.isEmpty else {
            throw groupsValue.error("no groups; a cluster needs at least one node group",
                                    fix: "add a group, e.g. 'frontend: {count: 1, flavor: FLAVOR}' under 'groups:'")
        }
        var groups = try groupsMap.entries.map {
            try group(named: $0.key, keyMark: $0.keyMark, $0.value, provider: cloud.provider)
        }
        try checkFrontendReachable(groups, groupsMap, cloud: cloud)
        let sharedHome = try map.bool("shared_home")
        if case .ssh(let settings) = cloud.settings {
            try checkOwnMachines(groups, groupsMap, settings: settings, cloud: cloud.name)
            let named = Set(groups.flatMap { $0.hosts ?? [] })
            for index in groups.indices where groups[index].hosts == nil {
                groups[index].hosts = settings.hosts.map(\.host).filter { !named.contains($0) }
            }
            if sharedHome != true {
                let what = "cluster \(name) runs on your own machines (cloud \(cloud.name)), and cloudc never mounts a /home over theirs"
                let fix = "share /home among the machines yourself (NFS, a lab file server) and add 'shared_home: true' to the template"
                throw (map["shared_home"] ?? value).error(what, fix: fix)
            }
        }
        var autostop: Int?
        if let found = map["autostop"] {
            let text = try found.string()
            do {
                autostop = try Autostop.minutes(text)
            } catch let error as CloudcError {
                throw found.error(error.message, fix: error.fix ?? "")
            }
            if autostop != nil, cloud.provider == .ssh {
                throw found.error("cluster \(name) runs on your own machines (cloud \(cloud.name)), which cloudc never powers off",
                                  fix: "remove 'autostop:' from the template")
            }
        }
        return ClusterTemplate(name: name, cloud: cloudName, login: login, setup: setup, image: image,
                               sshFrom: sshFrom, executor: executor, groups: groups, sharedHome: sharedHome, autostop: autostop)
    }

    func group(named name: String, keyMark: Mark?, _ value: ConfigValue, provider: ProviderKind) throws -> NodeGroupSpec {
        try Names.check(name, kind: "group", maxLength: Names.groupMaxLength,
                        keyMark: keyMark, path: value.path, context: value.context)
        let map = try value.mapping()
        try map.rejectUnknownKeys(allowed: Self.groupKeys)

        let countValue = try map.require("count", "how many nodes the group starts with", example: "1")
        let count = try countValue.int()
        guard count >= 0 else {
            throw countValue.error("count is \(count); it must be 0 or more", fix: "write a count of 0 or more")
        }
        var min = 0
        if let minValue = map["min"] {
            min = try minValue.int()
            guard min >= 0 else { throw minValue.error("min is \(min); it must be 0 or more", fix: "write a min of 0 or more") }
            guard min <= count else {
                throw minValue.error("min \(min) is more than count \(count)",
                                     fix: "lower min to at most \(count), or raise count to at least \(min)")
            }
        }

        let flavor: String
        if provider == .local {
            flavor = try map.string("flavor") ?? Self.localFlavor
        } else if provider == .ssh {
            flavor = try map.string("flavor") ?? Self.ownFlavor
        } else {
            flavor = try map.requiredString("flavor", "provider \(provider.rawValue) needs the machine type of the group's nodes",
                                            example: Self.exampleFlavor[provider] ?? "FLAVOR")
        }

        var gpus: GPURequest?
        if let gpuValue = map["gpus"] {
            let gpuMap = try gpuValue.mapping()
            try gpuMap.rejectUnknownKeys(allowed: Self.gpuKeys)
            let gpuCountValue = try gpuMap.require("count", "how many GPUs each node gets", example: "1")
            let gpuCount = try gpuCountValue.int()
            guard gpuCount >= 1 else {
                throw gpuCountValue.error("GPU count is \(gpuCount); it must be 1 or more",
                                          fix: "write a count of 1 or more, or remove 'gpus:' for nodes without GPUs")
            }
            gpus = GPURequest(type: try gpuMap.string("type"), count: gpuCount)
        }

        var diskGB: Int?
        if let diskValue = map["disk_gb"] {
            let size = try diskValue.int()
            guard size > 0 else {
                throw diskValue.error("disk_gb is \(size); it must be a positive number of gigabytes",
                                      fix: "write a size such as 'disk_gb: 50', or remove it for the image's default")
            }
            diskGB = size
        }

        let publicIP = try map.bool("public_ip")
        if publicIP != nil, provider == .local, let found = map["public_ip"] {
            throw found.error("public_ip is for clouds; a local cluster's nodes have only their address on this machine's bridge",
                              fix: "remove 'public_ip:' from the group")
        }
        if provider == .ssh {
            for key in ["public_ip", "spot", "disk_gb", "image"] {
                if let found = map[key] {
                    throw found.error("'\(key)' is for clouds that make machines; an ssh cloud lends machines you already have",
                                      fix: "remove '\(key):' from group \(name)")
                }
            }
        }
        var hosts: [String]?
        if let hostsValue = map["hosts"] {
            guard provider == .ssh else {
                throw hostsValue.error("'hosts' is for clouds of provider ssh, which list the machines a group is taken from",
                                       fix: "remove 'hosts:' from group \(name)")
            }
            hosts = try hostsValue.list().map { try $0.string() }
        }
        return NodeGroupSpec(name: name, count: count, min: min, flavor: flavor, image: try map.string("image"),
                             gpus: gpus, spot: try map.bool("spot") ?? false, diskGB: diskGB, publicIP: publicIP, hosts: hosts)
    }

    /// Every node of a cloud cluster is reached through the frontend: one without a public
    /// address on a cloud reached over the internet would leave nothing reachable.
    func checkFrontendReachable(_ groups: [NodeGroupSpec], _ groupsMap: ConfigMapping, cloud: CloudSpec) throws {
        guard cloud.provider != .local, cloud.effectiveReach == .publicAddress else { return }
        let frontend = groups.first { $0.name == "frontend" } ?? groups.first
        guard let frontend, frontend.publicIP == false else { return }
        let place = groupsMap[frontend.name].flatMap { try? $0.mapping()["public_ip"] } ?? groupsMap[frontend.name]
        let what = "group \(frontend.name) is the frontend, through which cloudc reaches every node, and 'public_ip: false' "
            + "leaves it without a public address while cloud \(cloud.name) is reached over the internet: no node could be reached"
        let fix = "remove 'public_ip: false' from \(frontend.name), or, if this machine reaches the cloud's private network "
            + "(a VPN, a bastion, a machine in the same VPC), add 'reach: private' to cloud \(cloud.name)"
        if let place { throw place.error(what, fix: fix) }
        throw CloudcError(.config, what, fix: fix)
    }

    /// Own machines: every host a group names is listed by the cloud and named by one group
    /// only, and each group has hosts enough for its count.
    func checkOwnMachines(_ groups: [NodeGroupSpec], _ groupsMap: ConfigMapping, settings: OwnMachinesSettings, cloud: String) throws {
        var owner: [String: String] = [:]
        for group in groups {
            for host in group.hosts ?? [] {
                let place = groupsMap[group.name].flatMap { try? $0.mapping()["hosts"] } ?? groupsMap[group.name]
                guard settings.host(named: host) != nil else {
                    let hint = Suggestions.closest(to: host, in: settings.hosts.map(\.host)).map { "; did you mean '\($0)'?" } ?? ""
                    throw place?.error("group \(group.name) names host '\(host)', which cloud \(cloud) does not list\(hint)",
                                       fix: "add it to clouds.\(cloud).hosts, or use one of: \(Suggestions.list(settings.hosts.map(\.host)))")
                        ?? CloudcError(.config, "unknown host \(host)")
                }
                if let other = owner[host] {
                    throw place?.error("host '\(host)' is named by groups \(other) and \(group.name)",
                                       fix: "name each machine in one group only")
                        ?? CloudcError(.config, "host \(host) named twice")
                }
                owner[host] = group.name
            }
        }
        let unnamed = settings.hosts.filter { owner[$0.host] == nil }.count
        for group in groups {
            let available = group.hosts?.count ?? unnamed
            guard group.count > available else { continue }
            let place = groupsMap[group.name].flatMap { try? $0.mapping()["count"] } ?? groupsMap[group.name]
            let pool = group.hosts == nil ? "the \(unnamed) host(s) of cloud \(cloud) that no group names" : "its \(available) host(s)"
            throw place?.error("group \(group.name) starts with \(group.count) node(s), but has only \(pool)",
                               fix: "lower count to \(available), or list more machines")
                ?? CloudcError(.config, "too few hosts")
        }
    }

    // MARK: Helpers

    /// The name `value` refers to, which must be an entry of `section`.
    private func reference(_ value: ConfigValue, section: String, kind: String, names: [String]) throws -> String {
        let name = try value.string()
        guard !names.contains(name) else { return name }
        if let suggestion = Suggestions.closest(to: name, in: names) {
            throw value.error("no \(kind) named '\(name)'; did you mean '\(suggestion)'?",
                              fix: "write '\(suggestion)', or define '\(name)' under '\(section):'")
        }
        if names.isEmpty {
            throw value.error("no \(kind) named '\(name)'; '\(section):' defines none",
                              fix: "define '\(name)' under '\(section):' (config.example.yaml shows how)")
        }
        throw value.error("no \(kind) named '\(name)'",
                          fix: "use one of the \(section) defined under '\(section):' (\(Suggestions.list(names))), or define '\(name)' there")
    }

    static let exampleImage: [ProviderKind: String] = [
        .ec2: "ami-0123456789abcdef0",
        .gce: "projects/debian-cloud/global/images/family/debian-12",
        .openstack: "debian-12",
    ]

    static let exampleFlavor: [ProviderKind: String] = [
        .ec2: "c5.xlarge", .gce: "n2-standard-8", .openstack: "m1.large",
    ]
}

import CloudcCore
import Foundation

/// An OpenStack cloud: Nova servers, Glance images, Neutron security groups and floating IPs.
///
/// Every server carries the metadata `cloudc-cluster`, `cloudc-incarnation`, `cloudc-group`,
/// `cloudc-node` and `cloudc-launch`; every floating IP a description naming cluster,
/// incarnation and node. Nova has no idempotency token, so before each create the provider
/// looks for what an earlier attempt made. An instance's id is the server's UUID.
public struct OpenStackProvider: CloudProvider {
    let client: OpenStackClient
    let settings: OpenStackSettings
    /// The cloud's name in the cloudc config, for messages.
    let cloudName: String
    /// Where the credentials came from, for messages (never the secret).
    let credentialsSource: String
    let progress: any ProgressSink
    /// Server creates (and deletes) of one launch in flight at once.
    let concurrency: Int
    /// How server states are polled while waiting for ACTIVE or for a delete.
    let poller: Poller

    public init(client: OpenStackClient, settings: OpenStackSettings, cloudName: String, credentialsSource: String,
                progress: any ProgressSink = SilentProgress(), concurrency: Int = 8,
                poller: Poller = Poller(initialDelay: 1, maxDelay: 10, timeout: 1800)) {
        self.client = client; self.settings = settings; self.cloudName = cloudName
        self.credentialsSource = credentialsSource; self.progress = progress
        self.concurrency = max(1, concurrency); self.poller = poller
    }

    /// Runs OpenStack calls, turning a failure into one clear line for the user.
    func api<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw OpenStackErrorMapper.userError(error, source: credentialsSource)
        }
    }

    var wantsFloatingIPs: Bool { !(settings.floatingIPNetwork ?? "").isEmpty }

    // MARK: validation

    public func validate(_ spec: ClusterSpec) async throws {
        let key = "clusters.\(spec.template)"
        for group in spec.groups where group.spot {
            throw CloudcError(.config, "group '\(group.name)' asks for spot instances, which OpenStack does not have",
                              fix: "remove spot: true from \(key).groups.\(group.name)")
        }
        _ = try await network()
        if wantsFloatingIPs { _ = try await floatingNetwork() }
        let flavors = try await api { try await client.flavors() }
        for group in spec.groups {
            let flavor = try Self.flavor(named: group.flavor, in: flavors, group: group.name, template: spec.template)
            try await checkGPUs(group: group, flavor: flavor, template: spec.template)
        }
        for reference in Set([spec.image] + spec.groups.compactMap(\.image)).sorted() {
            let image = try await image(reference, template: spec.template)
            let minimum = image["min_disk"]?.int ?? 0
            for group in spec.groups where (group.image ?? spec.image) == reference {
                if let disk = group.diskGB, disk < minimum {
                    throw CloudcError(.config, "group '\(group.name)' asks for a \(disk) GB boot volume, but image \(reference) needs at least \(minimum) GB",
                                      fix: "set disk_gb: \(minimum) or more in \(key).groups.\(group.name), or leave it out")
                }
            }
        }
    }

    /// Nova's absolute limits (instances, cores, RAM) against what the new nodes' flavors take.
    public func checkQuota(adding nodes: [(group: NodeGroupSpec, count: Int)], spec: ClusterSpec) async throws -> String? {
        let client = self.client
        let flavors = try await api { try await client.flavors() }
        let limits = try await api { try await client.call(.compute, "GET", "limits") }["limits"]?["absolute"]
        guard let limits else { return nil }
        var instances = 0.0, cores = 0.0, ram = 0.0
        for (group, count) in nodes where count > 0 {
            let flavor = try Self.flavor(named: group.flavor, in: flavors, group: group.name, template: spec.template)
            instances += Double(count)
            cores += Double(count) * (flavor["vcpus"]?.number ?? 0)
            ram += Double(count) * (flavor["ram"]?.number ?? 0)
        }
        func need(_ name: String, _ max: String, _ used: String, _ adding: Double) -> QuotaNeed {
            let limit = limits[max]?.number
            return QuotaNeed(name: name, limit: limit.flatMap { $0 < 0 ? nil : $0 }, used: limits[used]?.number ?? 0, adding: adding)
        }
        return try QuotaNeed.verdict([need("instances", "maxTotalInstances", "totalInstancesUsed", instances),
                                      need("cores", "maxTotalCores", "totalCoresUsed", cores),
                                      need("MB of RAM", "maxTotalRAMSize", "totalRAMUsed", ram)],
                                     where: "the project of cloud \(cloudName)", fix: OpenStackErrorMapper.quotaFix)
    }

    /// A flavor by name (or id), with a clear error listing what the cloud offers.
    static func flavor(named wanted: String, in flavors: [JSONValue], group: String, template: String) throws -> JSONValue {
        if let found = flavors.first(where: { $0["name"]?.string == wanted }) ?? flavors.first(where: { $0["id"]?.string == wanted }) {
            return found
        }
        let names = flavors.compactMap { $0["name"]?.string }.sorted()
        let listed = names.prefix(12).joined(separator: ", ") + (names.count > 12 ? ", …" : "")
        throw CloudcError(.config, "flavor \(wanted) (group \(group)) does not exist on this cloud; it offers: \(listed.isEmpty ? "none" : listed)",
                          fix: "set flavor: in clusters.\(template).groups.\(group) to one of them (openstack flavor list)")
    }

    /// What a flavor's extra specs say about GPUs: the specs that grant them, and their count where it is given.
    static func gpuSpecs(_ extraSpecs: [String: String]) -> (specs: [String], count: Int?) {
        var specs: [String] = []
        var count: Int?
        for (key, value) in extraSpecs.sorted(by: { $0.key < $1.key }) {
            let upper = key.uppercased()
            if key == "pci_passthrough:alias" {
                specs.append("\(key)=\(value)")
                // "alias:count[,alias:count]"
                let total = value.split(separator: ",").compactMap { $0.split(separator: ":").last.flatMap { Int($0) } }.reduce(0, +)
                if total > 0 { count = (count ?? 0) + total }
            } else if key.hasPrefix("resources:") && (upper.contains("GPU")) {
                specs.append("\(key)=\(value)")
                if let n = Int(value) { count = (count ?? 0) + n }
            } else if key.hasPrefix("trait:") && upper.contains("GPU") {
                specs.append("\(key)=\(value)")
            }
        }
        return (specs, count)
    }

    /// A group that asks for GPUs needs a flavor whose extra specs grant enough of them;
    /// every GPU flavor's specs are reported.
    func checkGPUs(group: NodeGroupSpec, flavor: JSONValue, template: String) async throws {
        guard let id = flavor["id"]?.string else { return }
        let name = flavor["name"]?.string ?? id
        let extra = try await api { try await client.flavorExtraSpecs(id) }
        let gpu = Self.gpuSpecs(extra)
        let key = "clusters.\(template).groups.\(group.name)"
        if !gpu.specs.isEmpty {
            progress.report("Flavor \(name) (group \(group.name)) has GPUs: \(gpu.specs.joined(separator: ", "))")
        }
        guard let wanted = group.gpus else { return }
        if gpu.specs.isEmpty {
            throw CloudcError(.config, "group '\(group.name)' asks for \(wanted.count) GPU(s), but flavor \(name) has none in its extra specs (no pci_passthrough:alias or resources:*GPU*)",
                              fix: "set flavor: in \(key) to a GPU flavor of this cloud (openstack flavor list --long; the admins name them), or remove gpus:")
        }
        if let have = gpu.count, wanted.count > have {
            throw CloudcError(.config, "group '\(group.name)' asks for \(wanted.count) GPU(s), but flavor \(name) grants \(have) (\(gpu.specs.joined(separator: ", ")))",
                              fix: "choose a flavor with more GPUs in \(key), or lower gpus.count to \(have)")
        }
    }

    /// An image by id or name (the newest active one of that name).
    func image(_ reference: String, template: String) async throws -> JSONValue {
        if Self.looksLikeUUID(reference), let found = try await api({ try await client.image(id: reference) }) {
            return found
        }
        let named = try await api { try await client.images(named: reference) }
        let active = named.filter { ($0["status"]?.string ?? "active") == "active" }
        if let newest = active.max(by: { ($0["created_at"]?.string ?? "") < ($1["created_at"]?.string ?? "") }) {
            return newest
        }
        let why = named.isEmpty ? "does not exist" : "is not active (\(named.compactMap { $0["status"]?.string }.joined(separator: ", ")))"
        throw CloudcError(.config, "image \(reference) \(why) on this cloud (or is not visible to your project)",
                          fix: "set image: in clusters.\(template) to the name or id of an active image (openstack image list)")
    }

    static func looksLikeUUID(_ text: String) -> Bool { UUID(uuidString: text) != nil }

    /// The tenant network servers attach to: the configured one, else the project's only non-external network.
    func network() async throws -> JSONValue {
        if let wanted = settings.network, !wanted.isEmpty {
            if let found = try await findNetwork(wanted) { return found }
            let names = try await api { try await client.allNetworks() }.compactMap { $0["name"]?.string }.sorted()
            throw CloudcError(.config, "network \(wanted) does not exist on this cloud (or is not visible to your project); there are: \(names.joined(separator: ", "))",
                              fix: "set network: in clouds.\(cloudName) to one of them (openstack network list)")
        }
        let candidates = try await api { try await client.allNetworks() }.filter { $0["router:external"]?.bool != true }
        if candidates.count == 1 { return candidates[0] }
        let names = candidates.compactMap { $0["name"]?.string }.sorted()
        throw CloudcError(.config, candidates.isEmpty ? "your project has no network for servers"
                                                      : "your project has \(candidates.count) networks (\(names.joined(separator: ", "))) and none is configured",
                          fix: candidates.isEmpty ? "ask the cloud's admins for a project network" : "set network: in clouds.\(cloudName) to one of them")
    }

    /// The external network floating IPs come from.
    func floatingNetwork() async throws -> JSONValue {
        let wanted = settings.floatingIPNetwork ?? ""
        guard let found = try await findNetwork(wanted) else {
            let external = try await api { try await client.allNetworks() }.filter { $0["router:external"]?.bool == true }
                .compactMap { $0["name"]?.string }.sorted()
            throw CloudcError(.config, "floating IP network \(wanted) does not exist on this cloud; external networks: \(external.isEmpty ? "none" : external.joined(separator: ", "))",
                              fix: "set floating_ip_network: in clouds.\(cloudName) to an external network (openstack network list --external), or remove it")
        }
        guard found["router:external"]?.bool == true else {
            throw CloudcError(.config, "network \(wanted) is not external, so floating IPs cannot come from it",
                              fix: "set floating_ip_network: in clouds.\(cloudName) to an external network (openstack network list --external)")
        }
        return found
    }

    func findNetwork(_ reference: String) async throws -> JSONValue? {
        if Self.looksLikeUUID(reference), let found = try await api({ try await client.network(id: reference) }) { return found }
        let named = try await api { try await client.networks(named: reference) }
        return named.first
    }

    // MARK: access resources

    /// The servers' incarnations, and those in the names of the cluster's security groups,
    /// which outlive the servers (the key pair and floating IPs are then found by their names).
    public func incarnations(of cluster: String) async throws -> Set<String> {
        try await incarnations(of: cluster, resourceNames: try await client.securityGroups().compactMap { $0["name"]?.string })
    }

    public func plannedResources(for request: AccessRequest) -> [ResourceRecord] {
        let name = OpenStackNames.accessName(cluster: request.cluster, incarnation: request.incarnation)
        var planned = [ResourceRecord(kind: .keyPair, name: name), ResourceRecord(kind: .securityGroup, name: name),
                       ResourceRecord(kind: .securityGroup, name: OpenStackNames.sshGroupName(name))]
        // The cluster's floating IPs, as one record: stop releases every one its description names.
        if wantsFloatingIPs { planned.append(ResourceRecord(kind: .floatingIP, name: name)) }
        return planned
    }

    public func create(_ resource: ResourceRecord, for request: AccessRequest) async throws -> ResourceRecord {
        var created = resource
        created.status = .created
        switch resource.kind {
        case .keyPair:
            if let existing = try await api({ try await client.keypair(resource.name) }) {
                guard Self.sameKey(existing["public_key"]?.string, request.publicKey) else {
                    throw CloudcError(.state, "key pair \(resource.name) exists with another public key",
                                      fix: "delete it (openstack keypair delete \(resource.name)) and run the command again")
                }
            } else {
                do {
                    try await client.importKeypair(name: resource.name, publicKey: request.publicKey)
                } catch let error as OpenStackAPIError where error.status == 409 {
                    // An earlier attempt imported it.
                } catch {
                    throw OpenStackErrorMapper.userError(error, source: credentialsSource)
                }
            }
            created.id = resource.name
        case .securityGroup:
            let forSSH = resource.name != OpenStackNames.accessName(cluster: request.cluster, incarnation: request.incarnation)
            let group = try await findOrCreateSecurityGroup(resource.name, cluster: request.cluster, forSSH: forSSH, sshFrom: request.sshFrom)
            guard let id = group["id"]?.string else {
                throw CloudcError(.unavailable, "Neutron answered without the id of security group \(resource.name)", fix: "run the command again")
            }
            try await addRules(to: id, existing: group["security_group_rules"]?.items ?? [], sshFrom: forSSH ? request.sshFrom : nil)
            created.id = id
        case .floatingIP:
            created.id = try await floatingNetwork()["id"]?.string
        default:
            throw CloudcError(.internalError, "OpenStack does not create \(resource.kind.rawValue) resources")
        }
        return created
    }

    /// Key lines compare by type and base64 body; the comment may differ.
    static func sameKey(_ a: String?, _ b: String) -> Bool {
        guard let a else { return false }
        return a.split(separator: " ").prefix(2) == b.split(separator: " ").prefix(2)
    }

    func findOrCreateSecurityGroup(_ name: String, cluster: String, forSSH: Bool, sshFrom: String) async throws -> JSONValue {
        if let found = try await api({ try await client.securityGroups(named: name) }).first { return found }
        let description = forSSH ? "cloudc cluster \(cluster): SSH from \(sshFrom) to the frontend"
                                 : "cloudc cluster \(cluster): everything between its nodes"
        return try await api { try await client.createSecurityGroup(name: name, description: description) }
    }

    /// With `sshFrom`: SSH from there (the frontend's group). Without: everything from members
    /// of the group itself, IPv4 and IPv6 (every node's).
    func addRules(to groupID: String, existing: [JSONValue], sshFrom: String?) async throws {
        let wanted: [JSONValue]
        if let sshFrom {
            wanted = [["security_group_id": .string(groupID), "direction": "ingress", "ethertype": .string(sshFrom.contains(":") ? "IPv6" : "IPv4"),
                       "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": .string(sshFrom)]]
        } else {
            wanted = [["security_group_id": .string(groupID), "direction": "ingress", "ethertype": "IPv4", "remote_group_id": .string(groupID)],
                      ["security_group_id": .string(groupID), "direction": "ingress", "ethertype": "IPv6", "remote_group_id": .string(groupID)]]
        }
        for rule in wanted where !existing.contains(where: { Self.sameRule($0, rule) }) {
            do {
                try await client.createSecurityGroupRule(rule)
            } catch let error as OpenStackAPIError where error.status == 409 && error.kind == "SecurityGroupRuleExists" {
                // An earlier attempt added it.
            } catch {
                throw OpenStackErrorMapper.userError(error, source: credentialsSource)
            }
        }
    }

    static func sameRule(_ have: JSONValue, _ want: JSONValue) -> Bool {
        for key in ["direction", "ethertype", "protocol", "port_range_min", "port_range_max", "remote_ip_prefix", "remote_group_id"] {
            let a = have[key] ?? .null, b = want[key] ?? .null
            if a != b { return false }
        }
        return true
    }

    public func delete(_ resource: ResourceRecord) async throws {
        switch resource.kind {
        case .keyPair:
            _ = try await api { try await client.deleteKeypair(resource.name) }
        case .securityGroup:
            for group in try await securityGroups(resource) {
                guard let id = group["id"]?.string else { continue }
                try await deleteSecurityGroup(id, name: resource.name)
            }
        case .floatingIP:
            try await releaseFloatingIPs(prefix: resource.name)
        default:
            return
        }
    }

    /// Neutron refuses (409 SecurityGroupInUse) while a deleted server's port lingers: wait that out.
    func deleteSecurityGroup(_ id: String, name: String) async throws {
        var pause = 1.0
        let deadline = Date().addingTimeInterval(120)
        while true {
            do {
                try await client.deleteSecurityGroup(id: id)
                return
            } catch let error as OpenStackAPIError where error.status == 409 && Date() < deadline {
                try await Task.sleep(nanoseconds: UInt64(pause * 1_000_000_000))
                pause = min(pause * 1.5, 10)
            } catch {
                throw OpenStackErrorMapper.userError(error, source: credentialsSource)
            }
        }
    }

    func securityGroups(_ resource: ResourceRecord) async throws -> [JSONValue] {
        if let id = resource.id, let found = try await api({ try await client.securityGroup(id: id) }) { return [found] }
        return try await api { try await client.securityGroups(named: resource.name) }
    }

    public func exists(_ resource: ResourceRecord) async throws -> Bool {
        switch resource.kind {
        case .keyPair:
            return try await api { try await client.keypair(resource.name) } != nil
        case .securityGroup:
            return try await !securityGroups(resource).isEmpty
        case .floatingIP:
            return try await !floatingIPs(prefix: OpenStackNames.floatingIPPrefix(accessName: resource.name)).isEmpty
        default:
            return false
        }
    }
}

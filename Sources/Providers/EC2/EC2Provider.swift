import CloudcCore
import Foundation

/// Amazon EC2 through the Query API. Every resource carries the tag `cloudc:cluster`,
/// instances also `cloudc:node`, `cloudc:group`, `cloudc:incarnation` and `cloudc:launch`
/// (the launch's ClientToken), so a cluster can always be found again from the cloud alone.
public struct EC2Provider: CloudProvider {
    let client: EC2Client
    let settings: EC2Settings
    let credentialsSource: String
    /// Waiting for a security group to become deletable after its instances are gone.
    let dependencyPoller: Poller

    public init(client: EC2Client, settings: EC2Settings, credentialsSource: String,
                dependencyPoller: Poller = Poller(initialDelay: 2, maxDelay: 15, timeout: 300)) {
        self.client = client; self.settings = settings; self.credentialsSource = credentialsSource
        self.dependencyPoller = dependencyPoller
    }

    /// Runs an EC2 call, turning its failure into one clear line for the user.
    func call(_ action: String, _ parameters: [(String, String)] = []) async throws -> XMLElement {
        do {
            return try await client.call(action, parameters)
        } catch {
            throw EC2ErrorMapper.userError(error, credentialsSource: credentialsSource, region: client.region)
        }
    }

    /// Like `call`, but hands back EC2's own error for codes the caller handles itself.
    func callRaw(_ action: String, _ parameters: [(String, String)] = [], handling codes: Set<String>) async throws -> Result<XMLElement, EC2APIError> {
        do {
            return .success(try await client.call(action, parameters))
        } catch let error as EC2APIError where codes.contains(error.code) {
            return .failure(error)
        } catch {
            throw EC2ErrorMapper.userError(error, credentialsSource: credentialsSource, region: client.region)
        }
    }

    // MARK: validation

    public func validate(_ spec: ClusterSpec) async throws {
        let images = Set([spec.image] + spec.groups.compactMap(\.image))
        for image in images.sorted() where !image.hasPrefix("ami-") {
            throw CloudcError(.config, "image '\(image)' is not an EC2 AMI id",
                              fix: "set image: in clusters.\(spec.template) to an AMI id such as ami-0123456789abcdef0")
        }
        _ = try await describeImages(Array(images).sorted())

        let flavors = Array(Set(spec.groups.map(\.flavor))).sorted()
        let types = try await call("DescribeInstanceTypes", Self.list("InstanceType", flavors))
        var gpus: [String: Int] = [:]
        var found = Set<String>()
        for item in types.items("instanceTypeSet") {
            guard let name = item.string("instanceType") else { continue }
            found.insert(name)
            gpus[name] = item.at("gpuInfo", "gpus")?.children("item").reduce(0) { $0 + (Int($1.string("count") ?? "") ?? 0) } ?? 0
        }
        let missing = flavors.filter { !found.contains($0) }
        if !missing.isEmpty {
            throw CloudcError(.invalidRequest, "EC2 does not offer instance type \(missing.joined(separator: ", ")) in \(client.region)",
                              fix: "set flavor: in clusters.\(spec.template).groups to an instance type offered in \(client.region) (aws ec2 describe-instance-types)")
        }
        for group in spec.groups {
            guard let wanted = group.gpus else { continue }
            let has = gpus[group.flavor] ?? 0
            if has < wanted.count {
                throw CloudcError(.config,
                                  "group '\(group.name)' asks for \(wanted.count) GPU(s) but instance type \(group.flavor) has \(has)",
                                  fix: "choose a GPU instance type for clusters.\(spec.template).groups.\(group.name).flavor (e.g. g4dn.xlarge has 1 NVIDIA T4, g5.12xlarge has 4 A10G)")
            }
        }
        if let subnet = settings.subnet {
            _ = try await call("DescribeSubnets", [("SubnetId.1", subnet)])
        }
    }

    func describeImages(_ ids: [String]) async throws -> [String: XMLElement] {
        guard !ids.isEmpty else { return [:] }
        let answer = try await call("DescribeImages", Self.list("ImageId", ids))
        var images: [String: XMLElement] = [:]
        for item in answer.items("imagesSet") {
            if let id = item.string("imageId") { images[id] = item }
        }
        if let absent = ids.first(where: { images[$0] == nil }) {
            throw CloudcError(.invalidRequest, "EC2 has no image \(absent) in \(client.region)",
                              fix: "set image: to an AMI id that exists in \(client.region) (AMI ids differ per region)")
        }
        return images
    }

    // MARK: access resources

    static func resourceName(_ request: AccessRequest) -> String {
        "cloudc-\(request.cluster)-\(request.incarnation)"
    }

    /// The security group that lets SSH in from ssh_from, given to the frontend only.
    static func sshGroupName(_ request: AccessRequest) -> String { resourceName(request) + "-ssh" }

    /// The key pair; the security group every node has (all traffic from the cluster's own
    /// members); the one that lets SSH in from ssh_from, for the frontend.
    public func plannedResources(for request: AccessRequest) -> [ResourceRecord] {
        [ResourceRecord(kind: .keyPair, name: Self.resourceName(request)),
         ResourceRecord(kind: .securityGroup, name: Self.resourceName(request)),
         ResourceRecord(kind: .securityGroup, name: Self.sshGroupName(request))]
    }

    func tagSpecification(_ index: Int, type: String, _ tags: [(String, String)]) -> [(String, String)] {
        var out = [("TagSpecification.\(index).ResourceType", type)]
        for (n, tag) in tags.enumerated() {
            out.append(("TagSpecification.\(index).Tag.\(n + 1).Key", tag.0))
            out.append(("TagSpecification.\(index).Tag.\(n + 1).Value", tag.1))
        }
        return out
    }

    func clusterTags(_ cluster: String, _ incarnation: String) -> [(String, String)] {
        [("cloudc:cluster", cluster), ("cloudc:incarnation", incarnation)]
    }

    public func create(_ resource: ResourceRecord, for request: AccessRequest) async throws -> ResourceRecord {
        var created = resource
        created.status = .created
        switch resource.kind {
        case .keyPair:
            let material = Data(request.publicKey.utf8).base64EncodedString()
            let result = try await callRaw("ImportKeyPair",
                                           [("KeyName", resource.name), ("PublicKeyMaterial", material)]
                                           + tagSpecification(1, type: "key-pair", clusterTags(request.cluster, request.incarnation) + [("Name", resource.name)]),
                                           handling: ["InvalidKeyPair.Duplicate"])
            switch result {
            case .success(let answer):
                created.id = answer.string("keyPairId") ?? resource.name
            case .failure:
                // An earlier attempt created it: find it.
                created.id = try await findKeyPair(named: resource.name) ?? resource.name
            }
            return created
        case .securityGroup:
            let forSSH = resource.name == Self.sshGroupName(request)
            let description = forSSH ? "cloudc cluster \(request.cluster): SSH from \(request.sshFrom) to the frontend"
                                     : "cloudc cluster \(request.cluster): all traffic between its nodes"
            var parameters = [("GroupName", resource.name), ("GroupDescription", description)]
            if let vpc = try await vpcID() { parameters.append(("VpcId", vpc)) }
            parameters += tagSpecification(1, type: "security-group", clusterTags(request.cluster, request.incarnation) + [("Name", resource.name)])
            let groupID: String
            switch try await callRaw("CreateSecurityGroup", parameters, handling: ["InvalidGroup.Duplicate"]) {
            case .success(let answer):
                guard let id = answer.string("groupId") else {
                    throw CloudcError(.unavailable, "EC2 CreateSecurityGroup answered without a group id", fix: "run the command again (it resumes)")
                }
                groupID = id
            case .failure:
                guard let id = try await findSecurityGroup(named: resource.name) else {
                    throw CloudcError(.unavailable, "EC2 says security group \(resource.name) exists but does not list it", fix: "run the command again in a minute (it resumes)")
                }
                groupID = id
            }
            created.id = groupID
            let permissions = forSSH
                ? [("IpPermissions.1.IpProtocol", "tcp"), ("IpPermissions.1.FromPort", "22"), ("IpPermissions.1.ToPort", "22"),
                   ("IpPermissions.1.IpRanges.1.CidrIp", request.sshFrom), ("IpPermissions.1.IpRanges.1.Description", "SSH for cloudc")]
                : [("IpPermissions.1.IpProtocol", "-1"), ("IpPermissions.1.Groups.1.GroupId", groupID)]
            _ = try await callRaw("AuthorizeSecurityGroupIngress", [("GroupId", groupID)] + permissions,
                                  handling: ["InvalidPermission.Duplicate"])
            return created
        case .firewall, .floatingIP, .bridge, .sharedDirectory:
            throw CloudcError(.internalError, "EC2 does not create \(resource.kind.rawValue) resources")
        }
    }

    func vpcID() async throws -> String? {
        if let vpc = settings.vpc { return vpc }
        guard let subnet = settings.subnet else { return nil }
        let answer = try await call("DescribeSubnets", [("SubnetId.1", subnet)])
        return answer.items("subnetSet").first?.string("vpcId")
    }

    public func delete(_ resource: ResourceRecord) async throws {
        switch resource.kind {
        case .keyPair:
            _ = try await callRaw("DeleteKeyPair", [("KeyName", resource.name)], handling: ["InvalidKeyPair.NotFound"])
        case .securityGroup:
            var groupID = resource.id
            if groupID == nil { groupID = try await findSecurityGroup(named: resource.name) }
            guard let id = groupID else { return }
            // Just-terminated instances keep the group busy for a while: wait that out.
            let deleted: Bool? = try await dependencyPoller.poll {
                switch try await callRaw("DeleteSecurityGroup", [("GroupId", id)], handling: ["InvalidGroup.NotFound", "DependencyViolation"]) {
                case .success: return true
                case .failure(let error): return error.code == "InvalidGroup.NotFound" ? true : nil
                }
            }
            if deleted == nil {
                throw CloudcError(.timeout, "security group \(id) is still in use after its instances were terminated",
                                  fix: "run cloudc stop again in a few minutes; if it persists, see what still uses the group in the EC2 console")
            }
        case .firewall, .floatingIP, .bridge, .sharedDirectory:
            return
        }
    }

    /// The instances' incarnations, and those in the names of the cluster's security groups and
    /// key pairs (`cloudc-<cluster>-<incarnation>[-ssh]`), which outlive the instances.
    public func incarnations(of cluster: String) async throws -> Set<String> {
        let pattern = "cloudc-\(cluster)-*"
        let groups = try await call("DescribeSecurityGroups", [("Filter.1.Name", "group-name"), ("Filter.1.Value.1", pattern)])
        let keys = try await call("DescribeKeyPairs", [("Filter.1.Name", "key-name"), ("Filter.1.Value.1", pattern)])
        return try await incarnations(of: cluster, resourceNames: groups.items("securityGroupInfo").compactMap { $0.string("groupName") }
                                      + keys.items("keySet").compactMap { $0.string("keyName") })
    }

    /// The id of the security group with this name, nil if there is none.
    func findSecurityGroup(named name: String) async throws -> String? {
        let found = try await call("DescribeSecurityGroups", [("Filter.1.Name", "group-name"), ("Filter.1.Value.1", name)])
        return found.items("securityGroupInfo").first?.string("groupId")
    }

    /// The id of the key pair with this name, nil if there is none (a filter, unlike KeyName.1,
    /// answers an empty list rather than an error).
    func findKeyPair(named name: String) async throws -> String? {
        let found = try await call("DescribeKeyPairs", [("Filter.1.Name", "key-name"), ("Filter.1.Value.1", name)])
        return found.items("keySet").first.map { $0.string("keyPairId") ?? name }
    }

    public func exists(_ resource: ResourceRecord) async throws -> Bool {
        switch resource.kind {
        case .keyPair:
            return try await findKeyPair(named: resource.name) != nil
        case .securityGroup:
            return try await findSecurityGroup(named: resource.name) != nil
        case .firewall, .floatingIP, .bridge, .sharedDirectory:
            return false
        }
    }

    // MARK: instances

    public func launch(_ request: LaunchRequest) async throws -> [CloudInstance] {
        let group = request.group
        let image = group.image ?? request.image
        let groups = request.resources.filter { $0.kind == .securityGroup }
        let sshGroup = Self.sshGroupName(request.access)
        guard let securityGroup = groups.first(where: { $0.name != sshGroup })?.id,
              let keyName = request.resources.first(where: { $0.kind == .keyPair })?.name else {
            throw CloudcError(.internalError, "launching \(group.name) before its key pair and security group exist")
        }
        let count = String(request.nodes.count)
        var parameters: [(String, String)] = [
            ("ImageId", image), ("InstanceType", group.flavor),
            ("MinCount", count), ("MaxCount", count),
            ("KeyName", keyName),
            // A node that powers itself off (autostop, or a user's `poweroff`) is terminated, not
            // kept stopped with its volumes billed: a cluster node is never started again.
            ("InstanceInitiatedShutdownBehavior", "terminate"),
        ]
        parameters += networkInterface(request, securityGroups: [securityGroup]
                                       + (request.frontend ? groups.filter { $0.name == sshGroup }.compactMap(\.id) : []))
        var instanceTags = clusterTags(request.cluster, request.incarnation)
            + [("cloudc:group", group.name), ("cloudc:launch", request.token)]
        if request.nodes.count == 1, let node = request.nodes.first {
            instanceTags += [("cloudc:node", node), ("Name", "\(request.cluster)-\(node)")]
        }
        parameters += tagSpecification(1, type: "instance", instanceTags)
        parameters += tagSpecification(2, type: "volume", clusterTags(request.cluster, request.incarnation) + [("cloudc:group", group.name)])
        if let disk = group.diskGB {
            let images = try await describeImages([image])
            let root = images[image]?.string("rootDeviceName") ?? "/dev/xvda"
            parameters += [("BlockDeviceMapping.1.DeviceName", root),
                           ("BlockDeviceMapping.1.Ebs.VolumeSize", String(disk)),
                           ("BlockDeviceMapping.1.Ebs.VolumeType", "gp3"),
                           ("BlockDeviceMapping.1.Ebs.DeleteOnTermination", "true")]
        }
        if group.spot {
            parameters += [("InstanceMarketOptions.MarketType", "spot"),
                           ("InstanceMarketOptions.SpotOptions.SpotInstanceType", "one-time"),
                           ("InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior", "terminate")]
        }
        let answer = try await runInstances(parameters, token: request.token)
        var instances = answer.items("instancesSet").compactMap(Self.instance(from:))
            .sorted { ($0.launchIndex ?? 0, $0.id) < ($1.launchIndex ?? 0, $1.id) }
        // Name each instance after its node, in launch order.
        let nodes = request.nodes.sorted()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for (index, instance) in instances.enumerated() where index < nodes.count && instance.node == nil {
                let node = nodes[index]
                tasks.addTask { try await self.assign(node: node, cluster: request.cluster, instanceID: instance.id) }
            }
            try await tasks.waitForAll()
        }
        for index in instances.indices where index < nodes.count {
            instances[index].node = nodes[index]
        }
        return instances
    }

    /// The instance's one network interface: its security groups, its subnet, and a public IPv4
    /// address for the frontend (and groups with public_ip: true) only, whatever the subnet's
    /// auto-assign setting says (the instance-level SubnetId and SecurityGroupId cannot go with it).
    func networkInterface(_ request: LaunchRequest, securityGroups: [String]) -> [(String, String)] {
        var parameters = [("NetworkInterface.1.DeviceIndex", "0"),
                          ("NetworkInterface.1.AssociatePublicIpAddress", request.publicAddress ? "true" : "false"),
                          ("NetworkInterface.1.DeleteOnTermination", "true")]
        for (index, group) in securityGroups.enumerated() {
            parameters.append(("NetworkInterface.1.SecurityGroupId.\(index + 1)", group))
        }
        if let subnet = settings.subnet { parameters.append(("NetworkInterface.1.SubnetId", subnet)) }
        return parameters
    }

    /// RunInstances with `token` as its ClientToken. EC2 keeps a token after its instances are
    /// gone (a spot reclaim, a delete in the console) and refuses it then
    /// (IdempotentInstanceTerminated): such a launch goes on with the next token derived from it,
    /// the same each time, so a run again after an interruption still finds its instances.
    func runInstances(_ parameters: [(String, String)], token: String) async throws -> XMLElement {
        var clientToken = token
        for retry in 1...10 {
            switch try await callRaw("RunInstances", parameters + [("ClientToken", clientToken)], handling: ["IdempotentInstanceTerminated"]) {
            case .success(let answer): return answer
            case .failure: clientToken = "\(token)-r\(retry)"
            }
        }
        throw CloudcError(.invalidRequest, "EC2 refused 10 launch tokens of \(token) whose instances were terminated",
                          fix: "run the command again later, or stop the cluster and start it anew")
    }

    /// Tags an instance with its node name.
    public func assign(node: String, cluster: String, instanceID: String) async throws {
        _ = try await call("CreateTags", [("ResourceId.1", instanceID),
                                          ("Tag.1.Key", "cloudc:node"), ("Tag.1.Value", node),
                                          ("Tag.2.Key", "Name"), ("Tag.2.Value", "\(cluster)-\(node)")])
    }

    public func instances(cluster: String, incarnation: String?) async throws -> [CloudInstance] {
        var parameters = [("Filter.1.Name", "tag:cloudc:cluster"), ("Filter.1.Value.1", cluster)]
        if let incarnation { parameters += [("Filter.2.Name", "tag:cloudc:incarnation"), ("Filter.2.Value.1", incarnation)] }
        var found: [CloudInstance] = []
        var nextToken: String?
        repeat {
            var page = parameters + [("MaxResults", "500")]
            if let nextToken { page.append(("NextToken", nextToken)) }
            let answer = try await call("DescribeInstances", page)
            for reservation in answer.items("reservationSet") {
                found += reservation.items("instancesSet").compactMap(Self.instance(from:))
            }
            nextToken = answer.string("nextToken")
        } while nextToken != nil
        return found.sorted { $0.id < $1.id }
    }

    public func terminate(_ instanceIDs: [String]) async throws {
        for start in stride(from: 0, to: instanceIDs.count, by: 500) {
            let batch = Array(instanceIDs[start..<min(start + 500, instanceIDs.count)])
            let result = try await callRaw("TerminateInstances", Self.list("InstanceId", batch), handling: ["InvalidInstanceID.NotFound"])
            if case .failure = result {
                // Some are already gone: terminate the others one by one.
                for id in batch {
                    _ = try await callRaw("TerminateInstances", [("InstanceId.1", id)], handling: ["InvalidInstanceID.NotFound"])
                }
            }
        }
    }

    // MARK: host keys

    public var traits: ProviderTraits { ProviderTraits(hostKeySource: "console output") }

    /// The host keys cloud-init printed on each instance's console (GetConsoleOutput; the latest
    /// output where the instance type keeps it, else what EC2 buffered at the last state change).
    public func hostKeys(nodes: [String: String]) async throws -> [String: [String]] {
        // One call per node, several at once: a large cluster is polled in a few round trips' time.
        let readings = try await forEachBounded(Array(nodes), limit: 8) { pair -> (String, ConsoleHostKeys.Reading) in
            (pair.key, try await self.consoleHostKeys(instance: pair.value))
        }
        return ConsoleHostKeys.answer(readings)
    }

    /// What one instance's console tells of its host keys.
    func consoleHostKeys(instance id: String) async throws -> ConsoleHostKeys.Reading {
        var answer = try await callRaw("GetConsoleOutput", [("InstanceId", id), ("Latest", "true")],
                                       handling: ["UnsupportedOperation", "InvalidParameterValue", "InvalidParameterCombination", "InvalidInstanceID.NotFound"])
        if case .failure(let error) = answer, error.code != "InvalidInstanceID.NotFound" {
            answer = try await callRaw("GetConsoleOutput", [("InstanceId", id)], handling: ["InvalidInstanceID.NotFound"])
        }
        guard case .success(let xml) = answer, let encoded = xml.string("output"),
              let data = Data(base64Encoded: encoded.filter { !$0.isWhitespace }) else { return .notYet }
        return ConsoleHostKeys.read(String(decoding: data, as: UTF8.self))
    }

    // MARK: parsing

    static func list(_ name: String, _ values: [String]) -> [(String, String)] {
        values.enumerated().map { ("\(name).\($0.offset + 1)", $0.element) }
    }

    static func instance(from item: XMLElement) -> CloudInstance? {
        guard let id = item.string("instanceId") else { return nil }
        var tags: [String: String] = [:]
        for tag in item.items("tagSet") {
            if let key = tag.string("key") { tags[key] = tag.string("value") ?? "" }
        }
        return CloudInstance(
            id: id, node: tags["cloudc:node"], group: tags["cloudc:group"], launchToken: tags["cloudc:launch"],
            incarnation: tags["cloudc:incarnation"], state: state(item.string("instanceState", "name") ?? ""),
            privateIP: item.string("privateIpAddress"), publicIP: item.string("ipAddress"),
            flavor: item.string("instanceType"), zone: item.string("placement", "availabilityZone"),
            launchIndex: item.string("amiLaunchIndex").flatMap { Int($0) },
            fault: item.string("stateReason", "message"))
    }

    static func state(_ name: String) -> InstanceState {
        switch name {
        case "pending": return .pending
        case "running": return .running
        case "shutting-down": return .terminating
        case "terminated": return .terminated
        case "stopping": return .stopping
        case "stopped": return .stopped
        default: return .unknown
        }
    }
}

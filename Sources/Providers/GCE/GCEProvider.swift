import CloudcCore
import Foundation

/// Google Compute Engine through the Compute v1 REST API.
///
/// Every instance carries the labels `cloudc-cluster`, `cloudc-node`, `cloudc-group`,
/// `cloudc-incarnation` and `cloudc-launch` and the cluster's network tag, so a cluster can
/// always be found again from the cloud alone. An instance's id is `<zone>/<name>`.
public struct GCEProvider: CloudProvider {
    let client: GCEClient
    let settings: GCESettings
    let credentialsSource: String
    let progress: any ProgressSink
    /// Inserts (and deletes) of one launch in flight at once.
    let concurrency: Int
    /// New tries of one node in one zone when Google answers with an earlier try's failed operation.
    static let maxTries = 8

    public init(client: GCEClient, settings: GCESettings, credentialsSource: String,
                progress: any ProgressSink = SilentProgress(), concurrency: Int = 8) {
        self.client = client; self.settings = settings; self.credentialsSource = credentialsSource
        self.progress = progress; self.concurrency = max(1, concurrency)
    }

    var project: String { client.project }
    var zones: [String] { settings.zones }

    /// Runs Compute calls, turning a failure into one clear line for the user.
    func api<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw GCEErrorMapper.userError(error, credentialsSource: credentialsSource, project: project)
        }
    }

    /// Like `api`, but nil for a 404.
    func apiIfExists<T: Sendable>(_ body: () async throws -> T) async throws -> T? {
        do {
            return try await body()
        } catch let error as GCEAPIError where error.status == 404 {
            return nil
        } catch {
            throw GCEErrorMapper.userError(error, credentialsSource: credentialsSource, project: project)
        }
    }

    // MARK: validation

    public func validate(_ spec: ClusterSpec) async throws {
        guard let firstZone = zones.first else {
            throw CloudcError(.config, "cloud '\(spec.cloud.name)' has no zone", fix: "set zones: [us-central1-a] in clouds.\(spec.cloud.name)")
        }
        for zone in zones {
            guard try await apiIfExists({ try await client.zone(zone) }) != nil else {
                throw CloudcError(.config, "zone \(zone) does not exist in project \(project)",
                                  fix: "set zones: in clouds.\(spec.cloud.name) to zones of Compute Engine, e.g. [us-central1-a, us-central1-b] (gcloud compute zones list)")
            }
        }
        var machineTypes: [String: JSONValue] = [:]
        for flavor in Set(spec.groups.map(\.flavor)).sorted() {
            guard let machine = try await apiIfExists({ try await client.machineType(flavor, zone: firstZone) }) else {
                let users = spec.groups.filter { $0.flavor == flavor }.map(\.name).joined(separator: ", ")
                throw CloudcError(.config, "machine type \(flavor) (group \(users)) does not exist in zone \(firstZone)",
                                  fix: "set flavor: to a machine type offered in \(firstZone), e.g. e2-standard-4 or n1-standard-8 (gcloud compute machine-types list --zones \(firstZone))")
            }
            machineTypes[flavor] = machine
        }
        for group in spec.groups {
            guard let wanted = group.gpus, let machine = machineTypes[group.flavor] else { continue }
            try await validateGPUs(wanted, group: group, machine: machine, zone: firstZone, template: spec.template)
        }
        for reference in Set([spec.image] + spec.groups.compactMap(\.image)).sorted() {
            let image = try await resolveImage(reference, template: spec.template)
            let minimum = image["diskSizeGb"]?.int ?? 0
            for group in spec.groups where (group.image ?? spec.image) == reference {
                if let disk = group.diskGB, disk < minimum {
                    throw CloudcError(.config, "group '\(group.name)' asks for a \(disk) GB disk, but image \(reference) needs at least \(minimum) GB",
                                      fix: "set disk_gb: \(minimum) or more in clusters.\(spec.template).groups.\(group.name), or leave it out")
                }
            }
        }
    }

    /// Accelerator-optimized types (a2, a3, g2, …) carry their GPUs; N1 takes attached ones;
    /// other families take none.
    func validateGPUs(_ wanted: GPURequest, group: NodeGroupSpec, machine: JSONValue, zone: String, template: String) async throws {
        let key = "clusters.\(template).groups.\(group.name)"
        if let bundled = Self.bundledAccelerators(machine) {
            if let type = wanted.type, type != bundled.type {
                throw CloudcError(.config, "group '\(group.name)' asks for \(type) GPUs, but machine type \(group.flavor) comes with \(bundled.count) \(bundled.type)",
                                  fix: "in \(key), set gpus: {type: \(bundled.type), count: \(bundled.count)} or leave gpus out: \(group.flavor) brings its own GPUs")
            }
            if wanted.count > bundled.count {
                throw CloudcError(.config, "group '\(group.name)' asks for \(wanted.count) GPU(s), but machine type \(group.flavor) comes with \(bundled.count) \(bundled.type)",
                                  fix: "in \(key), choose a larger machine type of the family (e.g. more GPUs in its name), or lower gpus.count")
            }
            return
        }
        guard group.flavor.hasPrefix("n1-") else {
            throw CloudcError(.config, "machine type \(group.flavor) of group '\(group.name)' cannot have GPUs attached",
                              fix: "in \(key), use an N1 type with gpus: {type: nvidia-tesla-t4, count: 1} (e.g. n1-standard-8), or a type that comes with GPUs (a2-highgpu-1g, g2-standard-4, a3-highgpu-8g)")
        }
        guard let type = wanted.type else {
            throw CloudcError(.config, "group '\(group.name)' asks for GPUs on \(group.flavor) without naming their type",
                              fix: "in \(key), set gpus: {type: nvidia-tesla-t4, count: \(wanted.count)} (gcloud compute accelerator-types list --filter zone:\(zone))")
        }
        guard let accelerator = try await apiIfExists({ try await client.acceleratorType(type, zone: zone) }) else {
            throw CloudcError(.config, "GPU type \(type) of group '\(group.name)' is not offered in zone \(zone)",
                              fix: "in \(key), choose a GPU type offered in \(zone) (gcloud compute accelerator-types list --filter zone:\(zone)), or put a zone that has \(type) first in zones:")
        }
        if let most = accelerator["maximumCardsPerInstance"]?.int, wanted.count > most {
            throw CloudcError(.config, "group '\(group.name)' asks for \(wanted.count) \(type) GPUs, but a VM can have at most \(most)",
                              fix: "in \(key), set gpus.count to at most \(most)")
        }
    }

    /// The GPUs a machine type comes with (`accelerators` of machineTypes.get), nil if none.
    static func bundledAccelerators(_ machine: JSONValue) -> (type: String, count: Int)? {
        guard let first = machine["accelerators"]?.items.first, let type = first["guestAcceleratorType"]?.string else { return nil }
        return (type, first["guestAcceleratorCount"]?.int ?? 1)
    }

    /// The image behind a config reference (a family resolves to its newest image).
    func resolveImage(_ text: String, template: String) async throws -> JSONValue {
        guard let reference = GCEImageReference(text, defaultProject: project) else {
            throw CloudcError(.config, "image '\(text)' is not a Compute Engine image",
                              fix: "set image: in clusters.\(template) to projects/PROJECT/global/images/family/FAMILY or projects/PROJECT/global/images/NAME, e.g. projects/debian-cloud/global/images/family/debian-12")
        }
        guard let image = try await apiIfExists({ try await client.image(reference) }) else {
            throw CloudcError(.config, "image \(reference) does not exist (or is not shared with project \(project))",
                              fix: "set image: in clusters.\(template) to an existing image, e.g. projects/debian-cloud/global/images/family/debian-12 (gcloud compute images list)")
        }
        return image
    }

    // MARK: access resources

    public func plannedResources(for request: AccessRequest) -> [ResourceRecord] {
        // The deny rule last: stop deletes in reverse, so it is the first to go and the last to come.
        [ResourceRecord(kind: .firewall, name: GCENames.clusterTag(cluster: request.cluster, incarnation: request.incarnation)),
         ResourceRecord(kind: .firewall, name: GCENames.internalFirewall(cluster: request.cluster, incarnation: request.incarnation)),
         ResourceRecord(kind: .firewall, name: GCENames.denyFirewall(cluster: request.cluster, incarnation: request.incarnation))]
    }

    /// cloudc's allow rules, and the deny rule just below them. GCE applies the rule with the
    /// lowest priority number that matches (a deny wins a tie); a new project's default network
    /// allows SSH from anywhere and all traffic between its VMs at 65534.
    static let allowPriority = 1000
    static let denyPriority = 1001

    /// `projects/P/global/networks/NAME`, or the config's value when it is already a path or URL.
    var network: String {
        let name = settings.network.flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        return name.contains("/") ? name : "projects/\(project)/global/networks/\(name)"
    }

    /// The subnetwork for `zone` (its region's), nil to let the network choose.
    func subnetwork(zone: String) -> String? {
        guard let name = settings.subnetwork, !name.isEmpty else { return nil }
        if name.contains("/") { return name }
        return "projects/\(project)/regions/\(Self.region(of: zone))/subnetworks/\(name)"
    }

    /// `us-central1-a` → `us-central1`.
    static func region(of zone: String) -> String {
        guard let dash = zone.lastIndex(of: "-") else { return zone }
        return String(zone[..<dash])
    }

    /// The body of a firewall rule: SSH from the request's CIDR, everything between the
    /// cluster's nodes (source tag = target tag), or nothing else from anywhere.
    func firewallBody(_ resource: ResourceRecord, for request: AccessRequest) -> JSONValue {
        let tag = GCENames.clusterTag(cluster: request.cluster, incarnation: request.incarnation)
        if resource.name == GCENames.denyFirewall(cluster: request.cluster, incarnation: request.incarnation) {
            return ["name": .string(resource.name), "network": .string(network), "direction": "INGRESS",
                    "priority": .number(Double(Self.denyPriority)),
                    "description": .string("cloudc cluster \(request.cluster): no other traffic in, whatever the network's other rules allow"),
                    "sourceRanges": ["0.0.0.0/0"], "targetTags": [.string(tag)],
                    "denied": [["IPProtocol": "all"]]]
        }
        if resource.name == tag {
            return ["name": .string(resource.name), "network": .string(network), "direction": "INGRESS",
                    "priority": .number(Double(Self.allowPriority)),
                    "description": .string("cloudc cluster \(request.cluster): SSH from \(request.sshFrom)"),
                    "sourceRanges": [.string(request.sshFrom)], "targetTags": [.string(tag)],
                    "allowed": [["IPProtocol": "tcp", "ports": ["22"]]]]
        }
        return ["name": .string(resource.name), "network": .string(network), "direction": "INGRESS",
                "priority": .number(Double(Self.allowPriority)),
                "description": .string("cloudc cluster \(request.cluster): all traffic between its nodes"),
                "sourceTags": [.string(tag)], "targetTags": [.string(tag)],
                "allowed": [["IPProtocol": "all"]]]
    }

    public func create(_ resource: ResourceRecord, for request: AccessRequest) async throws -> ResourceRecord {
        guard resource.kind == .firewall else {
            throw CloudcError(.internalError, "GCE does not create \(resource.kind.rawValue) resources")
        }
        var created = resource
        created.status = .created
        let body = firewallBody(resource, for: request)
        let requestID = GCENames.firewallRequestID(incarnation: request.incarnation, name: resource.name)
        do {
            let operation = try await client.wait(try await client.insertFirewall(body, requestID: requestID))
            if !operation.errors.isEmpty, operation.errors.first?.code != "RESOURCE_ALREADY_EXISTS" {
                throw GCEErrorMapper.operationError(operation, call: "firewalls.insert \(resource.name)", zone: nil, project: project)
            }
            if let id = operation.targetID {
                created.id = id
                return created
            }
        } catch let error as GCEAPIError where error.status == 409 {
            // An earlier attempt created it.
        } catch let error as CloudcError {
            throw error
        } catch {
            throw GCEErrorMapper.userError(error, credentialsSource: credentialsSource, project: project)
        }
        let found = try await apiIfExists { try await client.firewall(resource.name) }
        created.id = found?["id"]?.string ?? resource.name
        return created
    }

    public func delete(_ resource: ResourceRecord) async throws {
        guard resource.kind == .firewall else { return }
        // A delete still running from an interrupted stop makes Google refuse another until it ends.
        guard let operation = try await apiIfExists({ try await whenReady { try await client.deleteFirewall(resource.name) } }) else {
            return
        }
        Failpoint.kill(at: "gce.after-firewall-delete-call")
        let done = try await api { try await client.wait(operation) }
        if let failure = done.errors.first, failure.code != "RESOURCE_NOT_FOUND" {
            throw GCEErrorMapper.operationError(done, call: "firewalls.delete \(resource.name)", zone: nil, project: project)
        }
    }

    public func exists(_ resource: ResourceRecord) async throws -> Bool {
        guard resource.kind == .firewall else { return false }
        return try await apiIfExists { try await client.firewall(resource.name) } != nil
    }

    // MARK: instances

    /// What one node's launch in one zone came to.
    enum NodeOutcome: Sendable {
        case created(CloudInstance)
        case noCapacity(String)
    }

    /// The parts of an instance body shared by a launch's nodes.
    struct LaunchPlan: Sendable {
        var request: LaunchRequest
        var sourceImage: String
        /// The machine type comes with GPUs (a2, a3, g2, …).
        var bundledGPUs: Bool
    }

    public func launch(_ request: LaunchRequest) async throws -> [CloudInstance] {
        let group = request.group
        guard let firstZone = zones.first else {
            throw CloudcError(.config, "the gce cloud has no zone", fix: "set zones: [us-central1-a] in the cloud's config")
        }
        let image = try await resolveImage(group.image ?? request.image, template: request.cluster)
        guard let reference = GCEImageReference(group.image ?? request.image, defaultProject: project),
              let imageName = image["name"]?.string else {
            throw CloudcError(.unavailable, "images.get for \(group.image ?? request.image) answered without a name", fix: "run the command again")
        }
        let machine = try await api { try await client.machineType(group.flavor, zone: firstZone) }
        let plan = LaunchPlan(request: request, sourceImage: "projects/\(reference.project)/global/images/\(imageName)",
                              bundledGPUs: Self.bundledAccelerators(machine) != nil)

        var remaining = request.nodes.sorted()
        var launched: [CloudInstance] = []
        var shortages: [String] = []
        for (index, zone) in zones.enumerated() {
            let outcomes = try await forEachBounded(remaining, limit: concurrency) { node in
                do { return (node, Result<NodeOutcome, Error>.success(try await self.launchNode(node, in: zone, plan))) } catch { return (node, .failure(error)) }
            }
            var firstError: Error?
            var short: [(node: String, message: String)] = []
            for (node, outcome) in outcomes {
                switch outcome {
                case .success(.created(let instance)): launched.append(instance)
                case .success(.noCapacity(let message)): short.append((node, message))
                case .failure(let error): if firstError == nil { firstError = error }
                }
            }
            // The nodes created meanwhile carry their labels: a resume finds them.
            if let firstError { throw firstError }
            remaining = short.map(\.node)
            guard let message = short.first?.message else { break }
            shortages.append("\(zone): \(message)")
            if index + 1 < zones.count {
                progress.report("zone \(zone) is out of capacity for \(remaining.count) \(group.name) node(s) (\(describe(group))); trying zone \(zones[index + 1])")
            }
        }
        if !remaining.isEmpty {
            throw CloudcError(.capacity,
                              "no zone has capacity for \(remaining.count) \(group.name) node(s) (\(describe(group))): tried \(zones.joined(separator: ", ")) (\(shortages.joined(separator: "; ")))",
                              fix: "run the command again later (it resumes), add zones: to clouds (other regions too), or choose another flavor or GPU type\(group.spot ? ", or spot: false" : "")")
        }
        return launched.sorted { ($0.node ?? "") < ($1.node ?? "") }
    }

    func describe(_ group: NodeGroupSpec) -> String {
        var text = group.flavor
        if let gpus = group.gpus { text += ", \(gpus.count)× \(gpus.type ?? "GPU")" }
        if group.spot { text += ", spot" }
        return text
    }

    /// Creates one node in `zone` and waits for it, or finds it created by an earlier try.
    func launchNode(_ node: String, in zone: String, _ plan: LaunchPlan) async throws -> NodeOutcome {
        let request = plan.request
        let name = GCENames.instanceName(cluster: request.cluster, node: node, incarnation: request.incarnation)
        let body = instanceBody(node: node, name: name, zone: zone, plan)
        var last: GCEOperation?
        for attempt in 0..<Self.maxTries {
            let requestID = GCENames.insertRequestID(incarnation: request.incarnation, token: request.token,
                                                     node: node, zone: zone, attempt: attempt)
            var operation: GCEOperation
            do {
                operation = try await client.insertInstance(body, zone: zone, requestID: requestID)
            } catch let error as GCEAPIError where error.status == 409 {
                return .created(try await describeInstance(name, zone: zone, node: node, plan))   // made by an earlier try
            } catch let error as GCEAPIError where GCEErrorMapper.isCapacity(error) {
                return .noCapacity("\(error.reason ?? "\(error.status)"): \(error.message)")
            } catch {
                throw GCEErrorMapper.userError(error, credentialsSource: credentialsSource, project: project)
            }
            // Google answers a repeated requestId with the earlier operation, already done.
            let repeated = operation.isDone
            if !operation.isDone { operation = try await api { try await client.wait(operation) } }
            guard let failure = operation.errors.first else {
                return .created(try await describeInstance(name, zone: zone, node: node, plan))
            }
            last = operation
            if failure.code == "RESOURCE_ALREADY_EXISTS" {
                return .created(try await describeInstance(name, zone: zone, node: node, plan))
            }
            // An earlier run's failed try, replayed: it says nothing about now, so try anew.
            if repeated { continue }
            if GCEErrorMapper.isCapacity(code: failure.code, message: failure.message) {
                return .noCapacity("\(failure.code): \(failure.message)")
            }
            throw GCEErrorMapper.operationError(operation, call: "instances.insert \(name)", zone: zone, project: project)
        }
        let operation = last ?? GCEOperation(.null)
        if let failure = operation.errors.first, GCEErrorMapper.isCapacity(code: failure.code, message: failure.message) {
            return .noCapacity("\(failure.code): \(failure.message)")
        }
        throw GCEErrorMapper.operationError(operation, call: "instances.insert \(name)", zone: zone, project: project)
    }

    /// The instance as Google reports it; a bare pending record if it is not listed yet.
    func describeInstance(_ name: String, zone: String, node: String, _ plan: LaunchPlan) async throws -> CloudInstance {
        if let json = try await apiIfExists({ try await client.instance(name, zone: zone) }), let found = Self.instance(from: json) {
            return found
        }
        let request = plan.request
        return CloudInstance(id: "\(zone)/\(name)", node: node, group: request.group.name, launchToken: request.token,
                             incarnation: request.incarnation, state: .pending, flavor: request.group.flavor, zone: zone)
    }

    /// The labels of a node's instance.
    static func labels(cluster: String, incarnation: String, group: String, node: String?, token: String) -> [String: String] {
        var labels = ["cloudc-cluster": cluster, "cloudc-incarnation": incarnation, "cloudc-group": group, "cloudc-launch": token]
        if let node { labels["cloudc-node"] = node }
        return labels.mapValues(GCENames.labelValue)
    }

    /// The instances.insert body of one node.
    func instanceBody(node: String, name: String, zone: String, _ plan: LaunchPlan) -> JSONValue {
        let request = plan.request
        let group = request.group
        let zonePath = "projects/\(project)/zones/\(zone)"
        let labels = Self.labels(cluster: request.cluster, incarnation: request.incarnation, group: group.name, node: node, token: request.token)
        let labelJSON = JSONValue.object(labels.mapValues { .string($0) })

        var initialize: [String: JSONValue] = [
            "sourceImage": .string(plan.sourceImage),
            "diskType": .string("\(zonePath)/diskTypes/pd-balanced"),
            "labels": labelJSON,
        ]
        if let disk = group.diskGB { initialize["diskSizeGb"] = .string(String(disk)) }   // int64: a string in JSON

        var interface: [String: JSONValue] = [
            "network": .string(network),
            "accessConfigs": [["type": "ONE_TO_ONE_NAT", "name": "External NAT"]],
        ]
        if let subnetwork = subnetwork(zone: zone) { interface["subnetwork"] = .string(subnetwork) }

        var body: [String: JSONValue] = [
            "name": .string(name),
            "machineType": .string("\(zonePath)/machineTypes/\(group.flavor)"),
            "labels": labelJSON,
            "tags": ["items": [.string(GCENames.clusterTag(cluster: request.cluster, incarnation: request.incarnation))]],
            "disks": [.object(["boot": true, "autoDelete": true, "type": "PERSISTENT", "initializeParams": .object(initialize)])],
            "networkInterfaces": [.object(interface)],
            // The login's key only: project-wide keys are blocked, and OS Login (which would
            // ignore ssh-keys) is off for these VMs unless an organization policy forces it.
            "metadata": ["items": [
                ["key": "ssh-keys", "value": .string("\(request.access.loginUser):\(request.access.publicKey)")],
                ["key": "block-project-ssh-keys", "value": "true"],
                ["key": "enable-oslogin", "value": "FALSE"],
                // The guest agent publishes the VM's SSH host keys there: cloudc pins them before it connects.
                ["key": "enable-guest-attributes", "value": "TRUE"],
            ]],
        ]
        // N1 takes attached GPUs; accelerator-optimized types bring their own.
        let attach = plan.bundledGPUs ? nil : group.gpus.flatMap { gpus in gpus.type.map { ($0, gpus.count) } }
        if let (type, count) = attach {
            body["guestAccelerators"] = [["acceleratorType": .string("\(zonePath)/acceleratorTypes/\(type)"), "acceleratorCount": .number(Double(count))]]
        }
        let hasGPUs = plan.bundledGPUs || attach != nil
        if group.spot {
            // Spot VMs cannot restart automatically and always stop for host maintenance.
            body["scheduling"] = ["provisioningModel": "SPOT", "instanceTerminationAction": "DELETE",
                                  "onHostMaintenance": "TERMINATE", "automaticRestart": false]
        } else if hasGPUs {
            // VMs with GPUs cannot live-migrate: Google requires TERMINATE.
            body["scheduling"] = ["onHostMaintenance": "TERMINATE", "automaticRestart": true]
        }
        return .object(body)
    }

    /// Every instance labelled with the cluster (and incarnation), in every configured zone.
    public func instances(cluster: String, incarnation: String?) async throws -> [CloudInstance] {
        var terms = "(labels.cloudc-cluster = \"\(GCENames.labelValue(cluster))\")"
        if let incarnation { terms += " (labels.cloudc-incarnation = \"\(GCENames.labelValue(incarnation))\")" }
        let filter = terms
        let client = self.client
        let found = try await api {
            try await forEachBounded(zones, limit: concurrency) { zone in try await client.instances(zone: zone, filter: filter) }
        }
        return found.joined().compactMap(Self.instance(from:)).sorted { $0.id < $1.id }
    }

    /// Sets the node label on an instance that lacks it (labelFingerprint guards against a race).
    public func assign(node: String, cluster: String, instanceID: String) async throws {
        let (zone, name) = try Self.split(instanceID)
        for _ in 0..<3 {
            guard let current = try await apiIfExists({ try await client.instance(name, zone: zone) }) else {
                throw CloudcError(.notFound, "instance \(name) is gone from zone \(zone)", fix: "run the command again: it launches a new one")
            }
            var labels: [String: String] = [:]
            for (key, value) in current["labels"]?.object ?? [:] { labels[key] = value.string ?? "" }
            labels["cloudc-node"] = GCENames.labelValue(node)
            do {
                let operation = try await client.setLabels(labels, fingerprint: current["labelFingerprint"]?.string ?? "",
                                                           instance: name, zone: zone)
                _ = try await api { try await client.wait(operation) }
                return
            } catch let error as GCEAPIError where error.status == 412 {
                continue   // labels changed meanwhile: read them again
            } catch let error as CloudcError {
                throw error
            } catch {
                throw GCEErrorMapper.userError(error, credentialsSource: credentialsSource, project: project)
            }
        }
        throw CloudcError(.unavailable, "could not label instance \(name): its labels kept changing", fix: "run the command again")
    }

    /// How long a delete waits for a resource that is not ready to be deleted yet.
    static let notReadyPatience: Double = 300

    /// Asks Google to delete each instance (404: already gone); does not wait for the deletions.
    public func terminate(_ instanceIDs: [String]) async throws {
        let targets = try instanceIDs.map(Self.split)
        let client = self.client
        _ = try await api {
            try await forEachBounded(targets, limit: concurrency) { target in
                // An instance still being created refuses deletion until its insert operation
                // ends: a stop right after a cut-short start meets that.
                do {
                    _ = try await self.whenReady { try await client.deleteInstance(target.name, zone: target.zone) }
                } catch let error as GCEAPIError where error.status == 404 {
                }
            }
        }
    }

    /// Runs `body` again while Google answers 400 resourceNotReady (the resource's insert, or a
    /// delete of it, still running), for up to `notReadyPatience` seconds.
    func whenReady<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        var pause = 1.0
        let deadline = Date().addingTimeInterval(Self.notReadyPatience)
        while true {
            do {
                return try await body()
            } catch let error as GCEAPIError where error.status == 400 && error.reason == "resourceNotReady" && Date() < deadline {
                try await Task.sleep(nanoseconds: UInt64(pause * 1_000_000_000))
                pause = min(pause * 1.5, 10)
            }
        }
    }

    /// `us-central1-a/demo-compute001-1a2b3c4d` → (zone, name).
    static func split(_ id: String) throws -> (zone: String, name: String) {
        let parts = id.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw CloudcError(.state, "'\(id)' is not a GCE instance id (zone/name)",
                              fix: "the cluster's state file is from another provider or damaged; delete the instance in the Cloud console")
        }
        return (parts[0], parts[1])
    }

    // MARK: host keys

    public var traits: ProviderTraits { ProviderTraits(hostKeySource: "guest attributes") }

    /// The host keys each VM's guest agent published as guest attributes (`hostkeys/<type>` =
    /// base64 key, as gcloud reads them). A VM whose agent has not written them yet is left out.
    public func hostKeys(nodes: [String: String]) async throws -> [String: [String]] {
        var found: [String: [String]] = [:]
        for (node, id) in nodes {
            let parts = id.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            guard let answer = try await apiIfExists({ try await client.guestAttributes(parts[1], zone: parts[0], queryPath: "hostkeys/") }) else {
                continue
            }
            let keys = (answer["queryValue"]?["items"]?.items ?? []).compactMap { item -> String? in
                guard item["namespace"]?.string == "hostkeys", let type = item["key"]?.string, let key = item["value"]?.string,
                      type.hasPrefix("ssh-") || type.hasPrefix("ecdsa-"), !type.contains(" "),
                      let decoded = Data(base64Encoded: key), !decoded.isEmpty else { return nil }
                return "\(type) \(key)"
            }
            if !keys.isEmpty { found[node] = keys.sorted() }
        }
        return found
    }

    // MARK: parsing

    static func instance(from json: JSONValue) -> CloudInstance? {
        guard let name = json["name"]?.string, let zoneURL = json["zone"]?.string else { return nil }
        let zone = lastSegment(zoneURL)
        let labels = json["labels"]
        let interface = json["networkInterfaces"]?[0]
        return CloudInstance(
            id: "\(zone)/\(name)", node: labels?["cloudc-node"]?.string, group: labels?["cloudc-group"]?.string,
            launchToken: labels?["cloudc-launch"]?.string, incarnation: labels?["cloudc-incarnation"]?.string,
            state: state(json["status"]?.string ?? ""), privateIP: interface?["networkIP"]?.string,
            publicIP: interface?["accessConfigs"]?[0]?["natIP"]?.string,
            flavor: json["machineType"]?.string.map(lastSegment), zone: zone,
            fault: json["statusMessage"]?.string)
    }

    static func state(_ status: String) -> InstanceState {
        switch status {
        case "PROVISIONING", "STAGING", "REPAIRING": return .pending
        case "RUNNING": return .running
        case "STOPPING", "SUSPENDING", "PENDING_STOP": return .stopping
        case "TERMINATED", "SUSPENDED", "STOPPED": return .stopped
        default: return .unknown
        }
    }
}

import CloudcCore
import Foundation

/// Launching, finding, naming and deleting a cluster's instances.
extension GCEProvider {
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

        var tags = [GCENames.clusterTag(cluster: request.cluster, incarnation: request.incarnation)]
        if request.frontend { tags.append(GCENames.sshTag(cluster: request.cluster, incarnation: request.incarnation)) }
        var interface: [String: JSONValue] = ["network": .string(network)]
        // An external IP for the frontend (and groups with public_ip: true) only; without an
        // access config a VM has none.
        if request.publicAddress { interface["accessConfigs"] = [["type": "ONE_TO_ONE_NAT", "name": "External NAT"]] }
        if let subnetwork = subnetwork(zone: zone) { interface["subnetwork"] = .string(subnetwork) }

        var body: [String: JSONValue] = [
            "name": .string(name),
            "machineType": .string("\(zonePath)/machineTypes/\(group.flavor)"),
            "labels": labelJSON,
            "tags": ["items": .array(tags.map { .string($0) })],
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
        // Every zone of the project in one call: the config's zones may have changed since.
        let found = try await api { try await client.aggregatedInstances(filter: filter) }
        return found.compactMap(Self.instance(from:)).sorted { $0.id < $1.id }
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
}

import CloudcCore
import Foundation

/// The cluster's firewall rules: what lets SSH in from ssh_from and the nodes talk to each other.
extension GCEProvider {
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

    /// The incarnations of the cluster's instances (in every zone) and those in the names of its
    /// firewall rules, which outlive the instances.
    public func incarnations(of cluster: String) async throws -> Set<String> {
        let client = self.client
        return try await incarnations(of: cluster, resourceNames: try await api { try await client.firewalls() }.compactMap { $0["name"]?.string })
    }

    /// `us-central1-a` → `us-central1`.
    public static func region(of zone: String) -> String {
        guard let dash = zone.lastIndex(of: "-") else { return zone }
        return String(zone[..<dash])
    }

    /// The body of a firewall rule: SSH from the request's CIDR to the frontend (the other nodes
    /// are reached through it), everything between the cluster's nodes (source tag = target tag),
    /// or nothing else from anywhere.
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
            let frontend = GCENames.sshTag(cluster: request.cluster, incarnation: request.incarnation)
            return ["name": .string(resource.name), "network": .string(network), "direction": "INGRESS",
                    "priority": .number(Double(Self.allowPriority)),
                    "description": .string("cloudc cluster \(request.cluster): SSH from \(request.sshFrom) to the frontend"),
                    "sourceRanges": [.string(request.sshFrom)], "targetTags": [.string(frontend)],
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
}

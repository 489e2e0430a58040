import CloudcCore
import Foundation

/// Nova servers: create (looking first for an earlier attempt's), wait for ACTIVE, list, delete.
extension OpenStackProvider {
    /// What a launch's servers share, resolved once per launch.
    struct LaunchPlan: Sendable {
        var request: LaunchRequest
        var flavorID: String
        var imageID: String
        var networkID: String
    }

    public func launch(_ request: LaunchRequest) async throws -> [CloudInstance] {
        let group = request.group
        let flavors = try await api { try await client.flavors() }
        let flavor = try Self.flavor(named: group.flavor, in: flavors, group: group.name, template: request.cluster)
        let image = try await image(group.image ?? request.image, template: request.cluster)
        guard let flavorID = flavor["id"]?.string, let imageID = image["id"]?.string,
              let networkID = try await network()["id"]?.string else {
            throw CloudcError(.unavailable, "the cloud answered a flavor, image or network without its id", fix: "run the command again")
        }
        let plan = LaunchPlan(request: request, flavorID: flavorID, imageID: imageID, networkID: networkID)

        // Nova has no idempotency token: an earlier attempt's servers are found by their metadata.
        let earlier = try await servers(cluster: request.cluster, incarnation: request.incarnation)
        var existing: [String: JSONValue] = [:]
        for server in earlier where ![.terminated, .terminating, .error].contains(Self.state(server)) {
            if let node = server["metadata"]?["cloudc-node"]?.string, existing[node] == nil { existing[node] = server }
        }
        let found = existing
        let outcomes = try await forEachBounded(request.nodes.sorted(), limit: concurrency) { node in
            do { return Result<CloudInstance, Error>.success(try await self.launchNode(node, found: found[node], plan)) } catch { return .failure(error) }
        }
        var launched: [CloudInstance] = []
        var failures: [Error] = []
        for outcome in outcomes {
            switch outcome {
            case .success(let instance): launched.append(instance)
            case .failure(let error): failures.append(error)
            }
        }
        // The nodes created meanwhile carry their metadata: a resume finds them.
        if let first = failures.first {
            guard failures.count > 1, let error = first as? CloudcError else { throw first }
            let more = failures.dropFirst().map { ($0 as? CloudcError)?.message ?? "\($0)" }
            throw CloudcError(error.code, ([error.message] + more).joined(separator: "; "), fix: error.fix, cause: error.cause)
        }
        return launched.sorted { ($0.node ?? "") < ($1.node ?? "") }
    }

    /// Creates one node's server (unless an earlier attempt did) and waits for ACTIVE.
    /// A server that goes into ERROR is deleted, and its fault reported.
    func launchNode(_ node: String, found: JSONValue?, _ plan: LaunchPlan) async throws -> CloudInstance {
        let request = plan.request
        let name = OpenStackNames.serverName(cluster: request.cluster, node: node)
        var serverID = found?["id"]?.string
        if serverID == nil {
            do {
                serverID = try await client.createServer(serverBody(node: node, name: name, plan))["id"]?.string
            } catch let error as TransportError {
                // The answer was lost: the server may exist. Look before anyone tries again.
                serverID = try await servers(cluster: request.cluster, incarnation: request.incarnation)
                    .first { $0["metadata"]?["cloudc-node"]?.string == node && Self.state($0) != .terminated }?["id"]?.string
                if serverID == nil { throw OpenStackErrorMapper.userError(error, source: credentialsSource) }
            } catch let error as OpenStackAPIError {
                throw createError(error, node: node, name: name, group: request.group)
            }
        }
        guard let serverID else {
            throw CloudcError(.unavailable, "Nova accepted server \(name) but answered without its id", fix: "run the command again (it resumes)")
        }
        let server = try await waitUntilActive(serverID, name: name, node: node, group: request.group)
        guard let instance = Self.instance(from: server) else { throw malformed(name) }
        return instance
    }

    func malformed(_ name: String) -> CloudcError {
        CloudcError(.unavailable, "Nova described server \(name) without an id or status", fix: "run the command again (it resumes)")
    }

    /// Nova's refusal of a create, as a user error that names the node.
    func createError(_ error: OpenStackAPIError, node: String, name: String, group: NodeGroupSpec) -> Error {
        let mapped = OpenStackErrorMapper.userError(error, source: credentialsSource)
        guard let user = mapped as? CloudcError else { return mapped }
        return CloudcError(user.code, "cannot create server \(name) for node \(node) (\(group.flavor)): \(error.description)",
                           fix: user.fix, cause: user.cause)
    }

    /// The POST /servers body of one node.
    func serverBody(node: String, name: String, _ plan: LaunchPlan) -> JSONValue {
        let request = plan.request
        let group = request.group
        let access = OpenStackNames.accessName(cluster: request.cluster, incarnation: request.incarnation)
        let keyName = request.resources.first { $0.kind == .keyPair }?.name ?? access
        // Every node is in the cluster's group; the frontend also in the one SSH from ssh_from may reach.
        let sshGroup = OpenStackNames.sshGroupName(access)
        let securityGroups = request.resources.filter { $0.kind == .securityGroup && (request.frontend || $0.name != sshGroup) }
            .map { JSONValue.object(["name": .string($0.name)]) }
        let metadata = OpenStackNames.metadata(cluster: request.cluster, incarnation: request.incarnation,
                                               group: group.name, node: node, token: request.token)
        var body: [String: JSONValue] = [
            "name": .string(name),
            "flavorRef": .string(plan.flavorID),
            "networks": [["uuid": .string(plan.networkID)]],
            "key_name": .string(keyName),
            "security_groups": securityGroups.isEmpty ? [["name": .string(access)]] : .array(securityGroups),
            "metadata": .object(metadata.mapValues { .string($0) }),
        ]
        if let disk = group.diskGB {
            // Boot from a volume of that size, made from the image and deleted with the server.
            body["block_device_mapping_v2"] = [[
                "boot_index": 0, "uuid": .string(plan.imageID), "source_type": "image",
                "destination_type": "volume", "volume_size": .number(Double(disk)), "delete_on_termination": true,
            ]]
        } else {
            body["imageRef"] = .string(plan.imageID)
        }
        if let zone = settings.availabilityZone, !zone.isEmpty { body["availability_zone"] = .string(zone) }
        return .object(body)
    }

    /// Polls a server until ACTIVE. ERROR: the server is deleted and its fault thrown.
    func waitUntilActive(_ id: String, name: String, node: String, group: NodeGroupSpec) async throws -> JSONValue {
        let client = self.client
        let result: JSONValue? = try await poller.poll {
            guard let server = try await api({ try await client.server(id) }) else {
                throw CloudcError(.notFound, "server \(name) (\(id)) of node \(node) disappeared while it was being built",
                                  fix: "run the command again: it creates a new one")
            }
            switch Self.state(server) {
            case .running: return server
            case .error: throw try await failed(server, id: id, name: name, node: node, group: group)
            case .terminated, .terminating: throw CloudcError(.notFound, "server \(name) (\(id)) of node \(node) was deleted while it was being built",
                                                              fix: "run the command again: it creates a new one")
            default: return nil
            }
        }
        guard let result else {
            throw CloudcError(.timeout, "server \(name) (\(id)) of node \(node) was not ACTIVE after \(Int(poller.timeout)) s",
                              fix: "run the command again to keep waiting (it resumes), or stop the cluster")
        }
        return result
    }

    /// Deletes a server that went into ERROR, waits until it is gone, and says why it failed.
    func failed(_ server: JSONValue, id: String, name: String, node: String, group: NodeGroupSpec) async throws -> CloudcError {
        let fault = server["fault"]?["message"]?.string ?? "Nova gave no fault message"
        progress.report("Server \(name) of node \(node) went into ERROR (\(fault)); deleting it")
        _ = try await api { try await client.deleteServer(id) }
        let gone = try await waitUntilDeleted(id)
        let cleaned = gone ? "the failed server was deleted" : "the failed server is being deleted"
        if OpenStackErrorMapper.isCapacity(fault: fault) {
            return CloudcError(.capacity, "server \(name) for node \(node) (\(group.flavor)) went into ERROR: \(fault)",
                               fix: "\(cleaned); the cloud has no host for \(group.flavor) now: run the command again later (it resumes), choose a smaller flavor, or another availability_zone")
        }
        return CloudcError(.invalidRequest, "server \(name) for node \(node) (\(group.flavor)) went into ERROR: \(fault)",
                           fix: "\(cleaned); check flavor, image and disk_gb of group \(group.name), then run the command again (it resumes)")
    }

    /// Polls until Nova no longer reports the server (or reports it DELETED); false on timeout.
    func waitUntilDeleted(_ id: String) async throws -> Bool {
        let deadline = Date().addingTimeInterval(min(poller.timeout, 300))
        var pause = poller.initialDelay
        while Date() < deadline {
            let current = try await api { try await client.server(id) }
            if current == nil || current.map(Self.state) == .terminated { return true }
            try await Task.sleep(nanoseconds: UInt64(pause * 1_000_000_000))
            pause = min(pause * 1.5, poller.maxDelay)
        }
        return false
    }

    /// The servers of a cluster (and incarnation), by their metadata.
    func servers(cluster: String, incarnation: String?) async throws -> [JSONValue] {
        let listed = try await api { try await client.servers(nameRegex: OpenStackNames.serverNameFilter(cluster: cluster)) }
        return listed.filter { server in
            guard let metadata = server["metadata"], metadata["cloudc-cluster"]?.string == cluster else { return false }
            return incarnation == nil || metadata["cloudc-incarnation"]?.string == incarnation
        }
    }

    public func instances(cluster: String, incarnation: String?) async throws -> [CloudInstance] {
        var instances = try await servers(cluster: cluster, incarnation: incarnation).compactMap(Self.instance(from:))
        // Nova's addresses may lag behind an association: the floating IPs say it first.
        if wantsFloatingIPs, let incarnation {
            let prefix = OpenStackNames.floatingIPPrefix(accessName: OpenStackNames.accessName(cluster: cluster, incarnation: incarnation))
            var byNode: [String: String] = [:]
            for ip in try await floatingIPs(prefix: prefix) where ip["port_id"]?.string != nil {
                guard let description = ip["description"]?.string, let address = ip["floating_ip_address"]?.string else { continue }
                byNode[String(description.dropFirst(prefix.count))] = address
            }
            for index in instances.indices where instances[index].publicIP == nil {
                if let node = instances[index].node { instances[index].publicIP = byNode[node] }
            }
        }
        return instances.sorted { $0.id < $1.id }
    }

    /// Nova takes metadata only from a server that has left BUILD (409 before): that is waited out,
    /// since a launch cut short leaves servers still building.
    public func assign(node: String, cluster: String, instanceID: String) async throws {
        let client = self.client
        let done: Bool? = try await poller.poll {
            do {
                try await client.setServerMetadata(instanceID, key: "cloudc-node", value: node)
                return true
            } catch let error as OpenStackAPIError where error.status == 409 {
                return nil
            } catch {
                throw OpenStackErrorMapper.userError(error, source: credentialsSource)
            }
        }
        guard done == true else {
            throw CloudcError(.timeout, "server \(instanceID) did not leave BUILD to be named \(node) within \(Int(poller.timeout)) s",
                              fix: "run the command again, or delete the server in the cloud's dashboard")
        }
    }

    /// Releases each server's floating IP, then asks Nova to delete it (404: already gone).
    public func terminate(_ instanceIDs: [String]) async throws {
        let client = self.client
        _ = try await forEachBounded(instanceIDs, limit: concurrency) { id in
            guard let server = try await self.api({ try await client.server(id) }) else { return }
            if self.wantsFloatingIPs, let metadata = server["metadata"], let cluster = metadata["cloudc-cluster"]?.string,
               let incarnation = metadata["cloudc-incarnation"]?.string, let node = metadata["cloudc-node"]?.string {
                let description = OpenStackNames.floatingIPDescription(cluster: cluster, incarnation: incarnation, node: node)
                for ip in try await self.api({ try await client.floatingIPs(description: description) }) {
                    if let ipID = ip["id"]?.string { _ = try await self.api { try await client.deleteFloatingIP(ipID) } }
                }
            }
            _ = try await self.api { try await client.deleteServer(id) }
        }
    }

    // MARK: host keys

    public var traits: ProviderTraits { ProviderTraits(hostKeySource: "console output") }

    /// The host keys cloud-init printed on each server's console.
    public func hostKeys(nodes: [String: String]) async throws -> [String: [String]] {
        let client = self.client
        let answers = try await forEachBounded(Array(nodes), limit: concurrency) { pair -> (String, ConsoleHostKeys.Reading) in
            let (node, id) = pair
            guard let console = try await self.api({ try await client.consoleOutput(id) }) else { return (node, .notYet) }
            return (node, ConsoleHostKeys.read(console))
        }
        return ConsoleHostKeys.answer(answers)
    }

    // MARK: parsing

    static func instance(from server: JSONValue) -> CloudInstance? {
        guard let id = server["id"]?.string, server["status"]?.string != nil else { return nil }
        let metadata = server["metadata"]
        var fixed: String?
        var floating: String?
        for (_, addresses) in (server["addresses"]?.object ?? [:]).sorted(by: { $0.key < $1.key }) {
            for address in addresses.items {
                guard let addr = address["addr"]?.string, address["version"]?.int ?? 4 == 4 else { continue }
                if address["OS-EXT-IPS:type"]?.string == "floating" {
                    floating = floating ?? addr
                } else {
                    fixed = fixed ?? addr
                }
            }
        }
        return CloudInstance(
            id: id, node: metadata?["cloudc-node"]?.string, group: metadata?["cloudc-group"]?.string,
            launchToken: metadata?["cloudc-launch"]?.string, incarnation: metadata?["cloudc-incarnation"]?.string,
            state: state(server), privateIP: fixed, publicIP: floating,
            flavor: server["flavor"]?["original_name"]?.string ?? server["flavor"]?["id"]?.string,
            zone: server["OS-EXT-AZ:availability_zone"]?.string,
            fault: server["fault"]?["message"]?.string)
    }

    static func state(_ server: JSONValue) -> InstanceState {
        if server["OS-EXT-STS:task_state"]?.string == "deleting" { return .terminating }
        switch server["status"]?.string ?? "" {
        case "BUILD", "REBUILD", "REBOOT", "HARD_REBOOT", "MIGRATING", "RESIZE", "VERIFY_RESIZE", "REVERT_RESIZE", "PASSWORD":
            return .pending
        case "ACTIVE": return .running
        case "ERROR": return .error
        case "DELETED", "SOFT_DELETED": return .terminated
        case "SHUTOFF", "SUSPENDED", "PAUSED", "SHELVED", "SHELVED_OFFLOADED", "RESCUE": return .stopped
        default: return .unknown
        }
    }
}

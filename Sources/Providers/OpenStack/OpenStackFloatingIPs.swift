import CloudcCore
import Foundation

/// Neutron floating IPs: one per node, found again by its description, released on every
/// failure path and on stop.
extension OpenStackProvider {
    /// Every running node gets its floating IP (one per node, found again by its description).
    public func attachPublicAddresses(cluster: String, incarnation: String, nodes: [String: String]) async throws -> [String: String] {
        guard wantsFloatingIPs, !nodes.isEmpty else { return [:] }
        guard let networkID = try await floatingNetwork()["id"]?.string else {
            throw CloudcError(.unavailable, "Neutron answered network \(settings.floatingIPNetwork ?? "") without its id", fix: "run the command again")
        }
        let pairs = try await forEachBounded(nodes.sorted { $0.key < $1.key }, limit: concurrency) { node, serverID in
            let description = OpenStackNames.floatingIPDescription(cluster: cluster, incarnation: incarnation, node: node)
            return (node, try await self.ensureFloatingIP(serverID: serverID, networkID: networkID, description: description, node: node))
        }
        return Dictionary(pairs, uniquingKeysWith: { first, _ in first })
    }

    /// Gives the server's port the node's floating IP (allocating it unless an earlier attempt
    /// did) and returns its address. A floating IP allocated here is released if associating it fails.
    func ensureFloatingIP(serverID: String, networkID: String, description: String, node: String) async throws -> String {
        let portID = try await serverPort(serverID, node: node)
        var mine = try await api { try await client.floatingIPs(description: description) }
        // Two attempts that each allocated one: keep one, release the rest.
        mine.sort { ($0["port_id"]?.string == portID ? 0 : 1) < ($1["port_id"]?.string == portID ? 0 : 1) }
        for extra in mine.dropFirst() {
            if let id = extra["id"]?.string { _ = try await api { try await client.deleteFloatingIP(id) } }
        }
        if let kept = mine.first, let id = kept["id"]?.string, let address = kept["floating_ip_address"]?.string {
            if kept["port_id"]?.string == portID { return address }
            _ = try await api { try await client.associateFloatingIP(id, portID: portID) }
            return address
        }
        let allocated: JSONValue
        do {
            allocated = try await client.createFloatingIP(networkID: networkID, portID: portID, description: description)
        } catch let error as TransportError {
            // The answer was lost: it may be allocated. Find it, or fail and let stop release it.
            if let found = try await api({ try await client.floatingIPs(description: description) }).first,
               let address = found["floating_ip_address"]?.string, found["port_id"]?.string == portID {
                return address
            }
            throw OpenStackErrorMapper.userError(error, source: credentialsSource)
        } catch let error as OpenStackAPIError {
            let mapped = OpenStackErrorMapper.userError(error, source: credentialsSource)
            guard let user = mapped as? CloudcError else { throw mapped }
            throw CloudcError(user.code, "cannot allocate a floating IP for node \(node) from \(settings.floatingIPNetwork ?? networkID): \(error.description)",
                              fix: user.fix)
        }
        guard let id = allocated["id"]?.string, let address = allocated["floating_ip_address"]?.string else {
            throw CloudcError(.unavailable, "Neutron allocated a floating IP for node \(node) but answered without its id or address",
                              fix: "run the command again (it resumes); stop releases every floating IP of the cluster")
        }
        progress.report("Floating IP \(address) for \(node)")
        if allocated["port_id"]?.string != portID {
            do {
                _ = try await client.associateFloatingIP(id, portID: portID)
            } catch {
                _ = try? await client.deleteFloatingIP(id)
                throw OpenStackErrorMapper.userError(error, source: credentialsSource)
            }
        }
        return address
    }

    /// The server's port (on an ACTIVE server it exists; a moment's lag is waited out).
    func serverPort(_ serverID: String, node: String) async throws -> String {
        let client = self.client
        let waiting = Poller(initialDelay: min(poller.initialDelay, 1), maxDelay: 5, timeout: 120)
        let port: String? = try await waiting.poll {
            try await api { try await client.ports(deviceID: serverID) }.first?["id"]?.string
        }
        guard let port else {
            throw CloudcError(.unavailable, "server \(serverID) of node \(node) has no network port, so it cannot get a floating IP",
                              fix: "run the command again (it resumes); if it persists, check network: in clouds.\(cloudName)")
        }
        return port
    }

    /// Every floating IP whose description starts with `prefix` (the project's, filtered here:
    /// Neutron matches descriptions exactly).
    func floatingIPs(prefix: String) async throws -> [JSONValue] {
        try await api { try await client.floatingIPs() }.filter { ($0["description"]?.string ?? "").hasPrefix(prefix) }
    }

    /// Releases every floating IP of one start of a cluster (`accessName`: the resource's name).
    func releaseFloatingIPs(prefix accessName: String) async throws {
        let prefix = OpenStackNames.floatingIPPrefix(accessName: accessName)
        for ip in try await floatingIPs(prefix: prefix) {
            guard let id = ip["id"]?.string else { continue }
            _ = try await api { try await client.deleteFloatingIP(id) }
        }
    }
}

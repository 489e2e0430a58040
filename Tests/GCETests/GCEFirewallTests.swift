import CLITestSupport
import Foundation
import Testing
import TestSupport

/// What can reach a GCE cluster's nodes, computed from every rule of the network (cloudc's and
/// the four a new project's default network carries), not only from cloudc's own.
@Suite(.serialized, .needsPeer) struct GCEFirewallTests {
    typealias Firewall = GCEPeerState.Firewall

    /// GCE's decision for one packet in, as Google documents it: of the enabled INGRESS rules that
    /// match, the lowest priority number decides, a deny winning a tie; none: the implied deny.
    static func allows(_ rules: [Firewall], targetTags: [String], sourceIP: String, sourceTags: [String],
                       protocol proto: String, port: Int?) -> Bool {
        let matching = rules.filter { rule in
            guard rule.direction ?? "INGRESS" == "INGRESS", rule.disabled != true, !rule.deleting else { return false }
            if let targets = rule.targetTags, !targets.isEmpty, Set(targets).isDisjoint(with: targetTags) { return false }
            let byRange = (rule.sourceRanges ?? []).contains { contains($0, sourceIP) }
            let byTag = !Set(rule.sourceTags ?? []).isDisjoint(with: sourceTags)
            guard byRange || byTag else { return false }
            return (rule.allowed ?? rule.denied ?? []).contains { covers($0, proto, port) }
        }
        guard let best = matching.map({ $0.priority ?? 1000 }).min() else { return false }
        return !matching.contains { ($0.priority ?? 1000) == best && $0.denied != nil }
    }

    static func covers(_ rule: Firewall.Rule, _ proto: String, _ port: Int?) -> Bool {
        guard rule.IPProtocol == "all" || rule.IPProtocol == proto else { return false }
        guard let ports = rule.ports, !ports.isEmpty, let port else { return true }
        return ports.contains { range in
            let ends = range.split(separator: "-").compactMap { Int($0) }
            return ends.count == 1 ? ends[0] == port : (ends.count == 2 && ends[0] <= port && port <= ends[1])
        }
    }

    /// IPv4 CIDR containment.
    static func contains(_ cidr: String, _ address: String) -> Bool {
        let parts = cidr.split(separator: "/")
        guard let network = ipv4(String(parts[0])), let host = ipv4(address) else { return false }
        let bits = parts.count > 1 ? Int(parts[1]) ?? 32 : 32
        let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
        return network & mask == host & mask
    }

    static func ipv4(_ text: String) -> UInt32? {
        let octets = text.split(separator: ".").compactMap { UInt32($0) }
        guard octets.count == 4, octets.allSatisfy({ $0 < 256 }) else { return nil }
        return octets.reduce(0) { $0 << 8 | $1 }
    }

    @Test func onlySSHFromSSHFromAndTheClusterItselfGetIn() async throws {
        try await GCEPeer.with { peer in
            let user = try GCEClusterTests.user(peer)
            let start = await user.cloudc("start", "gce", "--no-setup")
            #expect(start.status == 0, "\(start.stderr)")
            let state = try await peer.state()
            #expect(state.firewalls.contains { $0.name == "default-allow-ssh" } && state.firewalls.contains { $0.name == "default-allow-internal" },
                    "the peer's network has a new project's default rules")
            let frontend = try #require(state.instances.first { $0.labels["cloudc-node"] == "frontend001" })
            let compute = try #require(state.instances.first { $0.labels["cloudc-node"] == "compute001" })
            let rules = state.firewalls

            func check(_ what: String, from ip: String, tags: [String] = [], to node: GCEPeerState.Instance, _ proto: String, _ port: Int?,
                       allowed expected: Bool) {
                let got = Self.allows(rules, targetTags: node.tags, sourceIP: ip, sourceTags: tags, protocol: proto, port: port)
                #expect(got == expected, "\(what): \(proto)/\(port.map(String.init) ?? "-") from \(ip) to \(node.name) is \(got ? "allowed" : "denied")")
            }
            // The internet: nothing, SSH included (default-allow-ssh would let it in).
            check("the internet", from: "203.0.113.9", to: frontend, "tcp", 22, allowed: false)
            check("the internet", from: "203.0.113.9", to: compute, "tcp", 22, allowed: false)
            check("the internet", from: "203.0.113.9", to: frontend, "icmp", nil, allowed: false)
            // ssh_from (198.51.100.0/24): SSH, and nothing else.
            check("ssh_from", from: "198.51.100.20", to: frontend, "tcp", 22, allowed: true)
            check("ssh_from", from: "198.51.100.20", to: frontend, "tcp", 6817, allowed: false)
            // Another VM of the project (10.128.0.0/9, untagged): not slurmctld, slurmd, NFS or SSH.
            for port in [22, 6817, 6818, 2049] {
                check("another VM of the project", from: "10.128.0.250", to: compute, "tcp", port, allowed: false)
            }
            check("another VM of the project", from: "10.128.0.250", to: frontend, "udp", 2049, allowed: false)
            // The cluster's own nodes reach each other on everything.
            for port in [22, 6817, 6818, 2049] {
                check("a node of the cluster", from: compute.networkIP, tags: compute.tags, to: frontend, "tcp", port, allowed: true)
            }
            check("a node of the cluster", from: frontend.networkIP, tags: frontend.tags, to: compute, "udp", 2049, allowed: true)

            // Without cloudc's deny rule the default network's rules would let both in: the evaluator sees them.
            let withoutDeny = rules.filter { !$0.name.hasSuffix("-deny") }
            #expect(Self.allows(withoutDeny, targetTags: frontend.tags, sourceIP: "203.0.113.9", sourceTags: [], protocol: "tcp", port: 22))
            #expect(Self.allows(withoutDeny, targetTags: compute.tags, sourceIP: "10.128.0.250", sourceTags: [], protocol: "tcp", port: 6817))

            let stop = await user.cloudc("stop", "gce")
            #expect(stop.status == 0, "\(stop.stderr)")
            #expect(try await peer.state().firewalls.map(\.name).sorted()
                    == ["default-allow-icmp", "default-allow-internal", "default-allow-rdp", "default-allow-ssh"])
        }
    }

    /// The host keys each VM's guest agent publishes as guest attributes are recorded and pinned
    /// before cloudc's first SSH connection: that connection is checked, not trusted.
    @Test func hostKeysFromGuestAttributesArePinnedBeforeTheFirstConnection() async throws {
        try await GCEPeer.with { peer in
            let user = try GCEClusterTests.user(peer)
            let start = await user.cloudc("start", "gce", "--no-setup")
            #expect(start.status == 0, "\(start.stderr)")
            let instances = try await peer.state().instances
            #expect(instances.allSatisfy { $0.metadataKeys.contains("enable-guest-attributes") })
            let pinned = try String(contentsOfFile: user.stateDirectory + "/gce.known_hosts", encoding: .utf8)
            for instance in instances {
                let key = try #require(instance.hostKeys.first, "\(instance.name) published no host key")
                // The frontend under its external IP, every other node under its internal one (reached through the frontend).
                let address = instance.labels["cloudc-group"] == "frontend" ? try #require(instance.natIP) : instance.networkIP
                #expect(pinned.contains("\(address) \(key)\n"), "\(instance.name): \(pinned)")
            }
            #expect(pinned.split(separator: "\n").count == instances.count)
            let stop = await user.cloudc("stop", "gce")
            #expect(stop.status == 0, "\(stop.stderr)")
        }
    }
}

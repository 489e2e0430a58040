import CloudcCore
import Foundation

/// The whole cluster as JSON, for scripts: what it was started from, every node with its group,
/// addresses, flavor and state, the groups, how to log in, and where its files are. No secret is
/// in it (the state holds none; cloud settings, credentials' sources and idempotency tokens are
/// left out). Pretty-printed with sorted keys, so the same cluster always gives the same bytes.
/// A node's absent address, zone or instance id is `null`; other absent values are left out.
public enum JSONFormat {
    /// Bumped when a key changes meaning or goes away (new keys do not bump it).
    public static let formatVersion = 1

    struct Description: Encodable {
        var format = "cloudc-cluster"
        var formatVersion = JSONFormat.formatVersion
        var name: String
        var template: String
        var cloud: Cloud
        var phase: String
        var createdAt: Date
        var setupCompletedAt: Date?
        var setup: String?
        var login: Login
        var frontend: String?
        var defaultPartition: String?
        var groups: [Group]
        var nodes: [Node]
        var files: Files

        enum CodingKeys: String, CodingKey {
            case format, name, template, cloud, phase, setup, login, frontend, groups, nodes, files
            case formatVersion = "format_version", createdAt = "created_at"
            case setupCompletedAt = "setup_completed_at", defaultPartition = "default_partition"
        }
    }

    struct Cloud: Encodable {
        var name: String
        var provider: String
        var endpoint: String?
    }

    struct Login: Encodable {
        var user: String
        var privateKey: String
        var publicKey: String
        var sshAlias: String
        enum CodingKeys: String, CodingKey {
            case user, privateKey = "private_key", publicKey = "public_key", sshAlias = "ssh_alias"
        }
    }

    struct Group: Encodable {
        var name: String
        var count: Int
        var min: Int
        var flavor: String
        var image: String?
        var gpus: GPUs?
        var spot: Bool
        var diskGB: Int?
        var nodes: [String]
        enum CodingKeys: String, CodingKey {
            case name, count, min, flavor, image, gpus, spot, nodes, diskGB = "disk_gb"
        }
    }

    struct GPUs: Encodable {
        var type: String?
        var count: Int
    }

    struct Node: Encodable {
        var name: String
        var group: String
        var instanceID: String?
        var privateIP: String?
        var publicIP: String?
        var state: String
        var flavor: String
        var zone: String?
        var sshAlias: String
        enum CodingKeys: String, CodingKey {
            case name, group, state, flavor, zone
            case instanceID = "instance_id", privateIP = "private_ip", publicIP = "public_ip", sshAlias = "ssh_alias"
        }

        /// Absent values are `null`, so every node has every key.
        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(group, forKey: .group)
            try container.encode(instanceID, forKey: .instanceID)
            try container.encode(privateIP, forKey: .privateIP)
            try container.encode(publicIP, forKey: .publicIP)
            try container.encode(state, forKey: .state)
            try container.encode(flavor, forKey: .flavor)
            try container.encode(zone, forKey: .zone)
            try container.encode(sshAlias, forKey: .sshAlias)
        }
    }

    struct Files: Encodable {
        var state: String
        var knownHosts: String
        enum CodingKeys: String, CodingKey { case state, knownHosts = "known_hosts" }
    }

    public static func render(_ handoff: Handoff) throws -> String {
        let state = handoff.state
        let nodes = handoff.orderedNodes
        let groups = handoff.groupNames.compactMap { name -> Group? in
            guard let group = state.spec.group(named: name) else { return nil }
            return Group(name: group.name, count: group.count, min: group.min, flavor: group.flavor, image: group.image,
                         gpus: group.gpus.map { GPUs(type: $0.type, count: $0.count) }, spot: group.spot,
                         diskGB: group.diskGB, nodes: nodes.filter { $0.group == name }.map(\.name))
        }
        let description = Description(
            name: state.name, template: state.spec.template,
            cloud: Cloud(name: state.spec.cloud.name, provider: state.spec.cloud.provider.rawValue, endpoint: state.spec.cloud.endpoint),
            phase: state.phase.rawValue, createdAt: state.createdAt, setupCompletedAt: state.setupCompletedAt,
            setup: state.spec.setup?.playbook,
            login: Login(user: handoff.user, privateKey: handoff.privateKey, publicKey: handoff.publicKey, sshAlias: handoff.name),
            frontend: handoff.frontend?.name, defaultPartition: handoff.defaultPartition, groups: groups,
            nodes: nodes.map {
                Node(name: $0.name, group: $0.group, instanceID: $0.instanceID, privateIP: $0.privateIP, publicIP: $0.publicIP,
                     state: $0.state.rawValue, flavor: $0.flavor, zone: $0.zone, sshAlias: handoff.alias(of: $0))
            },
            files: Files(state: handoff.stateFile, knownHosts: handoff.knownHosts))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(description), as: UTF8.self) + "\n"
    }
}

import ArgumentParser
import CloudcCore
import Foundation

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the clusters cloudc knows.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let wiring = Wiring(global)
        let names = try wiring.store.names()
        guard !names.isEmpty else {
            wiring.context.note("No clusters. Start one with: cloudc start TEMPLATE (see cloudc list-templates)")
            return
        }
        let current = wiring.store.currentCluster()
        var table = Table(header: ["NAME", "TEMPLATE", "CLOUD", "NODES", "STATE", "SETUP", "COST/HOUR", "SO FAR"])
        let now = Date()
        var notes: [String] = []
        for name in names {
            let marker = name == current ? "*" : ""
            do {
                guard let state = try wiring.store.load(name) else { continue }
                let groups = state.spec.groups.map { group in "\(state.nodes.filter { $0.group == group.name }.count) \(group.name)" }
                // pending: nodes not (yet, or no longer all) configured; run `cloudc setup`.
                let setup = state.spec.setup == nil ? "-" : state.setupCompletedAt == nil ? "pending" : "done"
                let cost = ClusterCost(state: state, costs: wiring.costs(for: state.spec.cloud, now: now), now: now)
                if await Self.poweredOff(state, wiring: wiring) {
                    // Autostop powered it off: no CPU or GPU bills; what stays is told below.
                    let remains = Self.remains(state.spec.cloud.provider)
                    table.rows.append([name + marker, state.spec.template, "\(state.spec.cloud.name) (\(state.spec.cloud.provider.rawValue))",
                                       groups.joined(separator: ", "), "off (autostop)", setup, remains == nil ? "none" : "disks only", cost.soFarCell])
                    notes.append("\(name) was powered off by autostop: its nodes bill no CPU or GPU; "
                                 + (remains.map { "\($0) remain until: cloudc stop \(name)" } ?? "remove what is left with: cloudc stop \(name)"))
                    continue
                }
                table.rows.append([name + marker, state.spec.template, "\(state.spec.cloud.name) (\(state.spec.cloud.provider.rawValue))",
                                   groups.joined(separator: ", "), state.phase.rawValue, setup, cost.perHourCell, cost.soFarCell])
            } catch {
                table.rows.append([name + marker, "?", "?", "?", "unreadable: see cloudc list-nodes \(name)", "?", "?", "?"])
            }
        }
        for line in table.render() { wiring.context.print(line) }
        for note in notes { wiring.context.note(note) }
    }

    /// A running cluster with autostop whose every node the cloud reports stopped or gone
    /// (one read-only call; a cloud that does not answer leaves it shown as it was).
    static func poweredOff(_ state: ClusterState, wiring: Wiring) async -> Bool {
        guard state.spec.autostop != nil, state.phase == .running, !state.nodes.isEmpty,
              let provider = try? wiring.provider(for: wiring.cloudSpec(for: state)),
              let instances = try? await provider.instances(cluster: state.name, incarnation: state.incarnation) else { return false }
        let off = Set(instances.filter { $0.state == .stopped || $0.state == .terminated }.map(\.id))
        return state.nodes.allSatisfy { node in node.instanceID.map { off.contains($0) } ?? false }
            || state.nodes.allSatisfy { node in !instances.contains { $0.id == node.instanceID && $0.state.isLive } }
    }

    /// What still costs money once a cluster's nodes are off; nil: nothing.
    static func remains(_ provider: ProviderKind) -> String? {
        switch provider {
        case .gce: "the boot disks"
        case .openstack: "the volumes and floating IPs"
        case .ec2, .local, .ssh: nil   // EC2 terminates a node that powers itself off
        }
    }
}

struct ListNodes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-nodes", abstract: "List the nodes of a cluster.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The cluster (default: the one chosen with `use`, or the only one).")
    var name: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    struct NodeJSON: Encodable {
        var name: String
        var group: String
        var instance_id: String?
        var private_ip: String?
        var public_ip: String?
        var state: String
        var flavor: String
        var zone: String?
    }

    func run() async throws {
        let wiring = Wiring(global)
        let state = try wiring.loadState(try wiring.clusterName(name))
        let nodes = state.nodes.sorted { ($0.group, $0.name) < ($1.group, $1.name) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let rows = nodes.map { NodeJSON(name: $0.name, group: $0.group, instance_id: $0.instanceID, private_ip: $0.privateIP,
                                            public_ip: $0.publicIP, state: $0.state.rawValue, flavor: $0.flavor, zone: $0.zone) }
            let data = try encoder.encode(rows)
            wiring.context.print(String(decoding: data, as: UTF8.self))
        } else {
            for line in NodeTable.render(nodes) { wiring.context.print(line) }
        }
    }
}

struct ListTemplates: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-templates", abstract: "List the cluster templates in the config.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let wiring = Wiring(global)
        let config = try wiring.loadConfig()
        var table = Table(header: ["TEMPLATE", "CLOUD", "GROUPS"])
        for name in config.templateNames {
            guard let template = config.clusters[name] else { continue }
            let provider = config.clouds[template.cloud]?.provider.rawValue ?? "?"
            let groups = template.groups.map { group -> String in
                // Own machines are what they are: the group says which it takes.
                var text = "\(group.count) \(group.name) (" + (group.hosts.map { "from " + $0.joined(separator: " ") } ?? group.flavor)
                if let gpus = group.gpus { text += ", \(gpus.count)×\(gpus.type ?? "GPU")" }
                if group.spot { text += ", spot" }
                return text + ")"
            }
            table.rows.append([name, "\(template.cloud) (\(provider))", groups.joined(separator: ", ")])
        }
        for line in table.render() { wiring.context.print(line) }
    }
}

struct Use: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Choose the cluster that commands act on when none is named.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The cluster.")
    var name: String

    func run() async throws {
        let wiring = Wiring(global)
        _ = try wiring.loadState(name)
        try wiring.store.setCurrentCluster(name)
        wiring.context.note("Commands now act on \(name) when no cluster is named.")
    }
}

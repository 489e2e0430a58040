import CloudcCore
import Foundation

/// One node as the configurator sees it.
public struct SetupNode: Sendable, Equatable {
    public var name: String
    public var group: String
    /// How cloudc reaches it (`NodeRoute`).
    public var route: NodeRoute
    /// The address the other nodes reach it at.
    public var privateAddress: String
    /// The name the cloud knows the machine by (an own machine's listed host); else the node's name.
    public var host: String
    public init(name: String, group: String, route: NodeRoute, privateAddress: String, host: String? = nil) {
        self.name = name; self.group = group; self.route = route; self.privateAddress = privateAddress
        self.host = host ?? name
    }

    /// A node reached directly at `sshAddress`.
    public init(name: String, group: String, sshAddress: String, privateAddress: String) {
        self.init(name: name, group: group, route: NodeRoute(address: sshAddress), privateAddress: privateAddress)
    }

    /// The address cloudc connects to (through the frontend, where `route.jump` says so).
    public var sshAddress: String { route.address }
}

/// Bytes cloudc generated for a cluster (the munge key); never shown.
public struct SecretFile: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public let bytes: [UInt8]
    public init(bytes: [UInt8]) { self.bytes = bytes }
    public var description: String { "<secret, \(bytes.count) bytes>" }
    public var debugDescription: String { description }
}

/// The cluster a playbook is run against.
public struct SetupTarget: Sendable {
    public var cluster: String
    /// Node groups in the spec's order; the frontend group first.
    public var groups: [String]
    public var frontendGroup: String
    public var nodes: [SetupNode]
    public var vars: [String: String]
    public var traits: ProviderTraits
    public var secrets: [String: SecretFile]
    /// Commands need `sudo` (the login user is not root), unless a node's own login says otherwise.
    public var sudo: Bool
    /// /home is shared among the nodes already (the provider's nodes, or the template says so):
    /// setup serves and mounts none.
    public var sharedHome: Bool
    /// Minutes of idleness before the cluster powers itself off; 0: never.
    public var autostop: Int

    public init(cluster: String, groups: [String], frontendGroup: String, nodes: [SetupNode],
                vars: [String: String], traits: ProviderTraits, secrets: [String: SecretFile], sudo: Bool,
                sharedHome: Bool? = nil, autostop: Int = 0) {
        self.cluster = cluster; self.groups = groups; self.frontendGroup = frontendGroup; self.nodes = nodes
        self.vars = vars; self.traits = traits; self.secrets = secrets; self.sudo = sudo
        self.sharedHome = sharedHome ?? traits.sharedHome
        self.autostop = autostop
    }

    public var frontend: SetupNode? { nodes.first { $0.group == frontendGroup } }

    /// Whether commands on `node` need sudo: its login user is not root.
    func sudo(_ node: SetupNode) -> Bool { node.route.user.map { $0 != "root" } ?? sudo }
    public var workers: [SetupNode] { nodes.filter { $0.group != frontendGroup } }

    /// The nodes a role's `hosts:` names: `all`, `frontend`, `workers` or group names.
    func nodes(for hosts: [String], role: String) throws -> [SetupNode] {
        var names = Set<String>()
        for host in hosts {
            switch host {
            case "all": nodes.forEach { names.insert($0.name) }
            case "frontend": frontend.map { _ = names.insert($0.name) }
            case "workers": workers.forEach { names.insert($0.name) }
            default:
                guard groups.contains(host) else {
                    throw CloudcError(.config, "role '\(role)' names hosts '\(host)', which is no node group of \(cluster)",
                                      fix: "use all, frontend, workers or one of: \(groups.joined(separator: ", "))")
                }
                nodes.filter { $0.group == host }.forEach { names.insert($0.name) }
            }
        }
        return nodes.filter { names.contains($0.name) }
    }
}

/// What templates, `when:` and commands can refer to.
struct SetupContext {
    let target: SetupTarget
    /// Facts gathered so far: node → fact name → stdout.
    var facts: [String: [String: String]] = [:] { didSet { refresh() } }
    /// What every node's templates see, rebuilt when facts arrive (once per role, not once per
    /// node and template: slurm.conf's view of a big cluster is not cheap).
    private var shared: [String: TemplateValue] = [:]
    private var nodeValues: [String: TemplateValue] = [:]

    init(target: SetupTarget) {
        self.target = target
        refresh()
    }

    func values(for node: SetupNode) -> [String: TemplateValue] {
        var values = shared
        values["node"] = nodeValues[node.name] ?? nodeValue(node)
        return values
    }

    private mutating func refresh() {
        let frontend = target.frontend
        nodeValues = Dictionary(uniqueKeysWithValues: target.nodes.map { ($0.name, nodeValue($0)) })
        shared = [
            "cluster": .map([
                "name": .text(target.cluster),
                "autostop": .text(String(target.autostop)),
                "frontend": .map(["name": .text(frontend?.name ?? ""), "address": .text(frontend?.privateAddress ?? ""),
                                  "hostname": .text(frontendHostname)]),
            ]),
            "nodes": .list(target.nodes.compactMap { nodeValues[$0.name] }),
            "vars": .map(target.vars.mapValues { .text($0) }),
            "shared_home": .flag(target.sharedHome),
            "slurm_cgroups": .flag(slurmCgroups),
            "sudo": .flag(target.sudo),
            "package_cache": .flag(target.traits.packageCache),
            "own_machines": .flag(target.traits.ownMachines),
        ]
        // Absent until every worker has reported its hardware (a template naming it then fails clearly).
        if let slurm = try? slurmModel() { shared["slurm"] = slurm.templateValue }
    }

    /// The frontend's own hostname, once its `hostname` fact is in (an own machine keeps its
    /// own; slurmctld runs only where SlurmctldHost names it), else its node name.
    private var frontendHostname: String {
        guard let frontend = target.frontend else { return "" }
        return facts[frontend.name]?["hostname"].flatMap { try? SlurmModel.parseHostname($0, node: frontend.name) } ?? frontend.name
    }

    /// SLURM confines jobs with cgroups where the provider's nodes allow it and no worker has said
    /// it is a container (a node that is a systemd-nspawn machine, whatever cloud lent it, has no
    /// cgroup tree of its own for slurmd to build in).
    private var slurmCgroups: Bool {
        target.traits.slurmCgroups && !target.workers.contains { worker in
            let virt = facts[worker.name]?["container"]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            return !virt.isEmpty && virt != "none"
        }
    }

    private func nodeValue(_ node: SetupNode) -> TemplateValue {
        let nodeFacts = facts[node.name] ?? [:]
        return .map([
            "name": .text(node.name),
            "host": .text(node.host),
            "group": .text(node.group),
            "address": .text(node.privateAddress),
            "is_frontend": .flag(node.group == target.frontendGroup),
            "facts": .map(nodeFacts.mapValues { .text($0) }),
            "gpu_devices": .list(SlurmModel.parseGPUDevices(nodeFacts["gpu_devices"] ?? "").map { .text($0) }),
        ])
    }

    func slurmModel() throws -> SlurmModel {
        try SlurmModel(workers: target.groups.filter { $0 != target.frontendGroup }.map { group in
            (group, target.workers.filter { $0.group == group }.map {
                ($0.name, $0.privateAddress, facts[$0.name]?["hardware"], facts[$0.name]?["gpu_devices"])
            })
        }, hostnames: facts.compactMapValues { $0["hostname"] })
    }

    /// Evaluates a `when:` condition: a value's truth, negated by a leading `!`.
    static func holds(_ condition: String?, in values: [String: TemplateValue], role: String) throws -> Bool {
        guard var path = condition?.trimmingCharacters(in: .whitespaces), !path.isEmpty else { return true }
        let negate = path.hasPrefix("!")
        if negate { path = String(path.dropFirst()).trimmingCharacters(in: .whitespaces) }
        let template = try Template(name: "when of role \(role)", source: "{{#\(path)}}yes{{/\(path)}}")
        let shown = try template.render(values) == "yes"
        return shown != negate
    }
}

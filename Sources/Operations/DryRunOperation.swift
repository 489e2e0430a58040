import CloudcCore
import Foundation
import Planner
import State

/// What a start or resize would create, checked against the cloud with read-only calls.
public struct DryRunPlan: Sendable {
    public struct Row: Sendable, Equatable {
        public var group: String
        /// Nodes the command would add to the group.
        public var nodes: Int
        public var flavor: String
        public var gpus: GPURequest?
        /// Where the nodes would run: a zone, a region, this machine, or the machines it would take.
        public var place: String
        public var spot: Bool
    }

    public var cluster: String
    public var cloud: CloudSpec
    public var rows: [Row]
    /// What was checked, in words.
    public var checked: String
    /// The quotas checked, in words; nil where the cloud reports none.
    public var quota: String?

    public var nodes: Int { rows.reduce(0) { $0 + $1.nodes } }
    public var gpus: Int { rows.reduce(0) { $0 + $1.nodes * ($1.gpus?.count ?? 0) } }
}

extension Operations {
    /// `cloudc start TEMPLATE --dry-run`: the spec checked against the cloud with the read-only
    /// calls a start makes first (credentials, image, machine types and GPUs; own machines: the
    /// SSH checks), and the nodes it would create. Nothing is created, not even a state file.
    public func planStart(name: String, spec: ClusterSpec) async throws -> DryRunPlan {
        try StateStore.validate(name: name)
        if let existing = try store.load(name) {
            throw CloudcError(.usage, "cluster '\(name)' exists already (\(existing.nodes.count) node(s)); a start would only check its nodes",
                              fix: "see a resize instead: cloudc resize \(name) +N GROUP --dry-run")
        }
        let provider = try clouds.provider(spec.cloud)
        try await provider.validate(spec)
        let quota = try await provider.checkQuota(adding: spec.groups.map { (group: $0, count: $0.count) }, spec: spec)
        let rows = spec.groups.filter { $0.count > 0 }.map { group in
            DryRunPlan.Row(group: group.name, nodes: group.count, flavor: group.flavor, gpus: group.gpus,
                           place: Self.place(of: group, adding: group.count, in: spec), spot: group.spot)
        }
        return DryRunPlan(cluster: name, cloud: spec.cloud, rows: rows, checked: Self.checked(spec.cloud), quota: quota)
    }

    /// `cloudc resize NAME +N GROUP --dry-run`: the nodes it would add (checked as a start checks
    /// them) or remove. Changes nothing, takes no lock.
    public func planResize(name: String, group: String, delta: Int) async throws -> (plan: DryRunPlan, removing: [String]) {
        let state = try loadState(name)
        let provider = try clouds.provider(clouds.cloudOf(state))
        let plan = try Planner.planResize(spec: state.spec, state: state, group: group, delta: delta)
        guard let spec = state.spec.group(named: group) else {
            throw CloudcError(.usage, "cluster \(name) has no group '\(group)'")
        }
        var quota: String?
        if delta > 0 {
            var checked = state.spec
            checked.groups = [spec]
            try await provider.validate(checked)
            try await provider.validateGrowth(of: spec, by: delta, cluster: name)
            quota = try await provider.checkQuota(adding: [(group: spec, count: delta)], spec: state.spec)
        }
        let row = DryRunPlan.Row(group: group, nodes: delta, flavor: spec.flavor, gpus: spec.gpus,
                                 place: Self.place(of: spec, adding: max(delta, 0), in: state.spec), spot: spec.spot)
        return (DryRunPlan(cluster: name, cloud: state.spec.cloud, rows: [row],
                           checked: delta > 0 ? Self.checked(state.spec.cloud) : "nothing (a shrink creates nothing)", quota: quota),
                plan.remove.map(\.name))
    }

    /// Where a group's nodes would run, as the cloud's settings say.
    static func place(of group: NodeGroupSpec, adding count: Int, in spec: ClusterSpec) -> String {
        switch spec.cloud.settings {
        case .gce(let settings): settings.zones.joined(separator: ", then ")
        case .ec2(let settings): settings.region ?? "the profile's region"
        case .openstack(let settings): settings.availabilityZone ?? settings.region ?? "the cloud's default zone"
        case .local: "this machine"
        case .ssh: "from " + (group.hosts ?? []).joined(separator: ", ")
        }
    }

    static func checked(_ cloud: CloudSpec) -> String {
        switch cloud.provider {
        case .gce: "credentials, zones, machine types, GPU types and the image, with read-only calls"
        case .ec2: "credentials, the AMI, instance types and their GPUs (and the subnet), with read-only calls"
        case .openstack: "credentials, the network, flavors and their GPUs, and the image, with read-only calls"
        case .local: "root, systemd-nspawn, the node image and the subnet"
        case .ssh: "each machine it would take: login, sudo without a password, Debian or Ubuntu, and that it is free"
        }
    }
}

import CloudcCore

/// Pure planning: from what the user wants, what the state file records and what the cloud
/// reports, decide what to do. No I/O, so every case is a plain-value test.
public enum Planner {
    // MARK: names and tokens

    /// `compute` + 3 → `compute003`.
    public static func nodeName(group: String, index: Int) -> String {
        let digits = String(index)
        return group + String(repeating: "0", count: max(0, 3 - digits.count)) + digits
    }

    /// The index of a node within its group (`compute012` → 12), nil for foreign names.
    public static func nodeIndex(_ name: String, group: String) -> Int? {
        guard name.hasPrefix(group) else { return nil }
        let rest = name.dropFirst(group.count)
        guard !rest.isEmpty, rest.allSatisfy(\.isNumber) else { return nil }
        return Int(rest)
    }

    /// A deterministic idempotency token for one launch batch: the same cluster incarnation,
    /// group, nodes and attempt give the same token; anything else gives another.
    /// At most 64 ASCII characters (EC2's ClientToken limit).
    public static func launchToken(incarnation: String, group: String, nodes: [String], attempt: Int) -> String {
        let digest = fnv1a64(([incarnation, group] + nodes.sorted() + [String(attempt)]).joined(separator: "\u{1f}"))
        let hex = String(digest, radix: 16)
        let padded = String(repeating: "0", count: 16 - hex.count) + hex
        return "cloudc-\(incarnation.prefix(12))-\(group.prefix(20))-\(padded)"
    }

    static func fnv1a64(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    // MARK: start

    public struct Adoption: Sendable, Equatable {
        public var node: String
        public var group: String
        public var instance: CloudInstance
        /// The instance carries no node tag yet (a launch was cut short before tagging).
        public var needsTag: Bool
    }

    public struct LaunchPlan: Sendable, Equatable {
        public var group: String
        public var nodes: [String]
        public var token: String
        /// Repeats a recorded launch whose result was never seen.
        public var isResume: Bool

        public init(group: String, nodes: [String], token: String, isResume: Bool) {
            self.group = group; self.nodes = nodes; self.token = token; self.isResume = isResume
        }
    }

    public struct StartPlan: Sendable, Equatable {
        public var adoptions: [Adoption] = []
        public var launches: [LaunchPlan] = []
        /// Instances of this cluster incarnation that no node owns (duplicates, extras): to terminate.
        public var strays: [CloudInstance] = []
        /// Nodes the state records whose instance the cloud reports gone: relaunched.
        public var lost: [String] = []

        public init() {}
    }

    /// Plans `start` (also used to resume one): which cloud instances belong to which node,
    /// and which nodes still need a launch.
    public static func planStart(spec: ClusterSpec, state: ClusterState, observed: [CloudInstance]) -> StartPlan {
        var plan = StartPlan()
        let ours = observed.filter { $0.state.isLive && ($0.incarnation == nil || $0.incarnation == state.incarnation) }
        // An instance the cloud put into ERROR (an OpenStack server without a host) never runs:
        // it is deleted, and its node launched anew.
        plan.strays = ours.filter { $0.state == .error }
        let live = ours.filter { $0.state != .error }
        let liveByID = Dictionary(live.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })

        // 1. Who owns what: node tags first, preferring the instance the state already records.
        var owner: [String: CloudInstance] = [:]
        for node in state.nodes {
            if let id = node.instanceID, let instance = liveByID[id] { owner[node.name] = instance }
        }
        var claimed = Set(owner.values.map(\.id))
        for instance in live.sorted(by: { $0.id < $1.id }) where !claimed.contains(instance.id) {
            guard let node = instance.node else { continue }
            if owner[node] == nil {
                owner[node] = instance
                claimed.insert(instance.id)
                let group = instance.group ?? state.node(named: node)?.group ?? groupOf(node, spec: spec) ?? ""
                plan.adoptions.append(Adoption(node: node, group: group, instance: instance, needsTag: false))
            } else {
                plan.strays.append(instance)
                claimed.insert(instance.id)
            }
        }
        // 2. Untagged instances of a recorded launch: give them its nodes, in launch order.
        for launch in state.launches {
            let untagged = live.filter { $0.launchToken == launch.token && $0.node == nil && !claimed.contains($0.id) }
                .sorted { ($0.launchIndex ?? Int.max, $0.id) < ($1.launchIndex ?? Int.max, $1.id) }
            var free = launch.nodes.filter { owner[$0] == nil }.sorted()
            for instance in untagged {
                claimed.insert(instance.id)
                guard !free.isEmpty else { plan.strays.append(instance); continue }
                let node = free.removeFirst()
                owner[node] = instance
                plan.adoptions.append(Adoption(node: node, group: launch.group, instance: instance, needsTag: true))
            }
        }
        // Tagged instances whose node is no longer wanted are strays too.
        let wanted = Set(spec.groups.flatMap { group in
            wantedNames(group: group, state: state)
        })
        for (node, instance) in owner where !wanted.contains(node) {
            plan.strays.append(instance)
            owner[node] = nil
            plan.adoptions.removeAll { $0.node == node }
        }

        // 3. Nodes without an instance: resume their recorded launch, or launch anew.
        for group in spec.groups {
            let missing = wantedNames(group: group, state: state).filter { owner[$0] == nil }
            guard !missing.isEmpty else { continue }
            for name in missing {
                if let recorded = state.node(named: name), recorded.instanceID != nil { plan.lost.append(name) }
            }
            var remaining = Set(missing)
            for launch in state.launches where launch.group == group.name && launch.status == .requested {
                let nodes = Set(launch.nodes)
                // Only a launch none of whose nodes got an instance can be repeated with its token
                // (the same token with other parameters is refused by the cloud).
                if nodes.isSubset(of: remaining), nodes.allSatisfy({ owner[$0] == nil }) {
                    plan.launches.append(LaunchPlan(group: group.name, nodes: launch.nodes.sorted(), token: launch.token, isResume: true))
                    remaining.subtract(nodes)
                }
            }
            if !remaining.isEmpty {
                let nodes = remaining.sorted()
                let attempt = state.launches.filter { $0.group == group.name && !Set($0.nodes).isDisjoint(with: remaining) }.count
                plan.launches.append(LaunchPlan(
                    group: group.name, nodes: nodes,
                    token: launchToken(incarnation: state.incarnation, group: group.name, nodes: nodes, attempt: attempt),
                    isResume: false))
            }
        }
        plan.adoptions.sort { $0.node < $1.node }
        plan.strays.sort { $0.id < $1.id }
        plan.lost.sort()
        return plan
    }

    /// The names a group should have: those the state already has for it (in number order),
    /// topped up with new numbers, cut to `count`.
    static func wantedNames(group: NodeGroupSpec, state: ClusterState) -> [String] {
        let existing = state.nodes.filter { $0.group == group.name }
            .compactMap { node in nodeIndex(node.name, group: group.name).map { ($0, node.name) } }
            .sorted { $0.0 < $1.0 }
        var names = existing.map(\.1)
        var next = (existing.map(\.0).max() ?? 0) + 1
        while names.count < group.count {
            names.append(nodeName(group: group.name, index: next))
            next += 1
        }
        return Array(names.prefix(group.count))
    }

    static func groupOf(_ node: String, spec: ClusterSpec) -> String? {
        spec.groups.map(\.name).sorted { $0.count > $1.count }.first { nodeIndex(node, group: $0) != nil }
    }

    // MARK: stop

    public struct StopPlan: Sendable, Equatable {
        /// Instance ids to terminate, sorted.
        public var terminate: [String]
        /// Resources to delete, in reverse order of creation.
        public var deleteResources: [ResourceRecord]
        /// Live instances with the cluster's name but another incarnation: not ours to delete.
        public var foreign: [CloudInstance]
    }

    public static func planStop(state: ClusterState, observed: [CloudInstance]) -> StopPlan {
        let ours = observed.filter { $0.incarnation == nil || $0.incarnation == state.incarnation }
        let goneIDs = Set(ours.filter { $0.state.isGone }.map(\.id))
        var ids = Set(ours.filter { $0.state.isLive }.map(\.id))
        for node in state.nodes {
            if let id = node.instanceID, !goneIDs.contains(id) { ids.insert(id) }
        }
        let foreign = observed.filter { $0.incarnation != nil && $0.incarnation != state.incarnation && $0.state.isLive }
        return StopPlan(terminate: ids.sorted(), deleteResources: state.resources.reversed(), foreign: foreign.sorted { $0.id < $1.id })
    }

    // MARK: resize

    public struct ResizePlan: Sendable, Equatable {
        public var group: String
        public var newCount: Int
        public var add: [String]
        public var remove: [NodeRecord]
    }

    /// Plans `resize ±N GROUP`: new names continue after the highest number; removal takes
    /// the highest-numbered nodes first and never goes below the group's `min`.
    public static func planResize(spec: ClusterSpec, state: ClusterState, group name: String, delta: Int) throws -> ResizePlan {
        guard let group = spec.group(named: name) else {
            let known = spec.groups.map(\.name).joined(separator: ", ")
            throw CloudcError(.usage, "cluster '\(state.name)' has no node group '\(name)'", fix: "use one of: \(known)")
        }
        let current = state.nodes.filter { $0.group == name }
            .sorted { (nodeIndex($0.name, group: name) ?? 0) < (nodeIndex($1.name, group: name) ?? 0) }
        if delta >= 0 {
            let highest = current.compactMap { nodeIndex($0.name, group: name) }.max() ?? 0
            let add = (0..<delta).map { nodeName(group: name, index: highest + 1 + $0) }
            return ResizePlan(group: name, newCount: current.count + delta, add: add, remove: [])
        }
        let removing = -delta
        guard current.count - removing >= group.min else {
            throw CloudcError(.usage,
                              "cannot remove \(removing) node(s) from '\(name)': it has \(current.count) and its min is \(group.min)",
                              fix: "remove at most \(max(0, current.count - group.min)), or lower min for the group in the config")
        }
        return ResizePlan(group: name, newCount: current.count - removing, add: [], remove: Array(current.suffix(removing).reversed()))
    }
}

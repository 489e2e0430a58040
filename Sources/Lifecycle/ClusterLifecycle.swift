import CloudcCore
import Foundation
import Planner
import State

/// Carries out `start` and `stop` for one cluster: asks the planner what to do, does it
/// through the provider, and records every step in the state file — the intent before each
/// create call, the result after — so that any interruption can be resumed or cleaned up.
public struct ClusterLifecycle: Sendable {
    public let store: StateStore
    public let provider: any CloudProvider
    public let progress: any ProgressSink
    public let waiting: Waiting

    /// How long and how often to poll the cloud.
    public typealias Waiting = Poller

    public init(store: StateStore, provider: any CloudProvider, progress: any ProgressSink, waiting: Waiting = Waiting()) {
        self.store = store; self.provider = provider; self.progress = progress; self.waiting = waiting
    }

    // MARK: start

    /// Starts (or resumes starting) cluster `name` from `spec`. Holds the cluster's lock.
    ///
    /// `sshFrom` is the resolved CIDR for SSH; `publicKey` the login's public key line.
    public func start(name: String, spec: ClusterSpec, sshFrom: String, publicKey: String, command: String) async throws -> ClusterState {
        try await store.withLock(name, command: command) {
            try await startHoldingLock(name: name, spec: spec, sshFrom: sshFrom, publicKey: publicKey)
        }
    }

    /// `start` for a caller that holds the cluster's lock already and keeps it for what follows
    /// (`cloudc start` keeps it through the setup, so no other cloudc runs in between).
    public func startHoldingLock(name: String, spec: ClusterSpec, sshFrom: String, publicKey: String) async throws -> ClusterState {
        var state: ClusterState
        if let existing = try store.load(name) {
            guard existing.spec.template == spec.template else {
                throw CloudcError(.usage, "a cluster named '\(name)' already exists, started from template '\(existing.spec.template)'",
                                  fix: "choose another name with -n NAME, or stop it first with: cloudc stop \(name)")
            }
            if existing.phase == .stopping {
                throw CloudcError(.usage, "cluster '\(name)' is being stopped",
                                  fix: "finish that with: cloudc stop \(name) — then start it again")
            }
            state = existing
            // A state from before ssh_from was recorded gets the one resolved now (resize needs it).
            if state.spec.sshFrom == nil { state.spec.sshFrom = sshFrom }
            progress.report(state.phase == .running
                ? "Cluster \(name) exists; checking that all its nodes are there"
                : "Resuming the start of cluster \(name) (incarnation \(state.incarnation))")
        } else {
            // Nothing is created, not even the state file, until the cloud accepted the spec.
            progress.report(provider.traits.ownMachines ? "Resolving the machines of \(spec.cloud.name)…"
                            : "Checking image and instance types on \(spec.cloud.name)…")
            try await provider.validate(spec)
            state = ClusterState(name: name, incarnation: ClusterState.newIncarnation(), spec: spec, now: Date())
            state.spec.sshFrom = sshFrom
            try store.save(state)
        }
        let access = AccessRequest(cluster: name, incarnation: state.incarnation, sshFrom: state.spec.sshFrom ?? sshFrom,
                                   publicKey: publicKey, loginUser: state.spec.login.user)
        try await createResources(&state, access: access)
        try await createNodes(&state, access: access)
        try await waitUntilRunning(&state)
        try await attachPublicAddresses(&state)
        try await recordHostKeys(&state)
        state.phase = .running
        try store.save(state)
        return state
    }

    func createResources(_ state: inout ClusterState, access: AccessRequest) async throws {
        for planned in provider.plannedResources(for: access) {
            if let recorded = state.resources.first(where: { $0.kind == planned.kind && $0.name == planned.name }),
               recorded.status == .created {
                continue
            }
            state.upsert(planned)
            try store.save(state)
            progress.report("Creating \(planned.kind.rawValue) \(planned.name)")
            let created = try await provider.create(planned, for: access)
            state.upsert(created)
            try store.save(state)
        }
    }

    func createNodes(_ state: inout ClusterState, access: AccessRequest) async throws {
        let observed = try await provider.instances(cluster: state.name, incarnation: state.incarnation)
        let plan = Planner.planStart(spec: state.spec, state: state, observed: observed)

        for adoption in plan.adoptions {
            if adoption.needsTag {
                try await provider.assign(node: adoption.node, cluster: state.name, instanceID: adoption.instance.id)
            }
            progress.report("Found \(adoption.node) (\(adoption.instance.id)) from an earlier attempt")
            state.upsert(record(adoption.node, group: adoption.group, instance: adoption.instance, spec: state.spec))
        }
        for name in plan.lost {
            progress.report("\(name): its instance is gone; launching a new one")
        }
        if !plan.strays.isEmpty {
            let ids = plan.strays.map(\.id)
            let named = plan.strays.map { stray in stray.id + (stray.fault.map { " (\($0))" } ?? "") }
            progress.report("Terminating \(ids.count) instance(s) that no node owns or that will never run: \(named.joined(separator: ", "))")
            try await provider.terminate(ids)
        }
        if !plan.adoptions.isEmpty { try store.save(state) }

        // Intent first: every launch and its nodes are on disk before the cloud is asked.
        var requests: [LaunchRequest] = []
        for launch in plan.launches {
            guard let group = state.spec.group(named: launch.group) else { continue }
            if !state.launches.contains(where: { $0.token == launch.token }) {
                state.launches.append(LaunchRecord(token: launch.token, group: launch.group, nodes: launch.nodes, requestedAt: Date()))
            }
            for node in launch.nodes {
                state.upsert(NodeRecord(name: node, group: group.name, state: .requested, flavor: group.flavor))
            }
            requests.append(LaunchRequest(
                cluster: state.name, incarnation: state.incarnation, group: group, nodes: launch.nodes,
                token: launch.token, image: group.image ?? state.spec.image, access: access, resources: state.resources,
                frontend: group.name == state.frontendGroup, publicAddress: state.spec.hasPublicAddress(group)))
        }
        guard !requests.isEmpty else { return }
        try store.save(state)
        for request in requests {
            let group = request.group
            progress.report("Launching \(request.nodes.count) \(group.name) node(s) (\(group.flavor)\(group.spot ? ", spot" : "")): \(request.nodes.joined(separator: ", "))")
        }

        Failpoint.kill(at: "launch.before-call")
        // The groups launch at once; each result is recorded as it comes, and a failed launch
        // does not lose the others' (its own instances, if any, are adopted by tag on resume).
        let provider = self.provider
        var firstFailure: Error?
        try await withThrowingTaskGroup(of: (LaunchRequest, Result<[CloudInstance], Error>).self) { tasks in
            for request in requests {
                tasks.addTask {
                    do { return (request, .success(try await provider.launch(request))) } catch { return (request, .failure(error)) }
                }
            }
            for try await (request, result) in tasks {
                switch result {
                case .failure(let error):
                    if firstFailure == nil { firstFailure = error }
                case .success(let instances):
                    for instance in instances {
                        guard let node = instance.node else { continue }
                        state.upsert(record(node, group: request.group.name, instance: instance, spec: state.spec))
                    }
                    if let index = state.launches.firstIndex(where: { $0.token == request.token }) {
                        state.launches[index].status = .launched
                    }
                    try store.save(state)
                }
            }
        }
        if let firstFailure { throw firstFailure }
    }

    func record(_ node: String, group: String, instance: CloudInstance, spec: ClusterSpec) -> NodeRecord {
        NodeRecord(name: node, group: group, instanceID: instance.id, privateIP: instance.privateIP,
                   publicIP: instance.publicIP, state: instance.state,
                   flavor: instance.flavor ?? spec.group(named: group)?.flavor ?? "", zone: instance.zone,
                   hostKeys: instance.hostKeys.isEmpty ? nil : instance.hostKeys, login: instance.login)
    }

    /// Polls the cloud until every node runs and has its addresses.
    func waitUntilRunning(_ state: inout ClusterState) async throws {
        var lastReport = ""
        let done: Bool? = try await waiting.poll {
            let observed = try await provider.instances(cluster: state.name, incarnation: state.incarnation)
            let byID = Dictionary(observed.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            var changed = false
            for (index, node) in state.nodes.enumerated() {
                guard let id = node.instanceID, let seen = byID[id] else { continue }
                var updated = node
                updated.state = seen.state
                updated.privateIP = seen.privateIP ?? node.privateIP
                updated.publicIP = seen.publicIP ?? node.publicIP
                updated.zone = seen.zone ?? node.zone
                if !seen.hostKeys.isEmpty { updated.hostKeys = seen.hostKeys }
                updated.login = seen.login ?? node.login
                if updated != node { state.nodes[index] = updated; changed = true }
            }
            if changed { try store.save(state) }

            let failed = state.nodes.filter { [.terminated, .terminating, .stopped, .stopping, .error].contains($0.state) }
            if !failed.isEmpty {
                let details = failed.map { node -> String in
                    let fault = node.instanceID.flatMap { byID[$0]?.fault }.map { ": \($0)" } ?? ""
                    return "\(node.name) (\(node.instanceID ?? "?")) is \(node.state.rawValue)\(fault)"
                }
                throw CloudcError(.capacity, "node(s) failed to start: \(details.joined(separator: "; "))",
                                  fix: "run cloudc start \(state.name) again to replace them, or cloudc stop \(state.name) to delete the cluster")
            }
            let waitingFor = state.nodes.filter { !$0.isReady }
            if waitingFor.isEmpty { return true }
            let line = "Waiting for \(waitingFor.count) of \(state.nodes.count) node(s): "
                + waitingFor.prefix(8).map { "\($0.name) (\($0.state.rawValue))" }.joined(separator: ", ")
                + (waitingFor.count > 8 ? ", …" : "")
            if line != lastReport { progress.report(line); lastReport = line }
            return nil
        }
        guard done == true else {
            let waitingFor = state.nodes.filter { !$0.isReady }.map(\.name)
            throw CloudcError(.timeout, "nodes of \(state.name) were not running after \(Int(waiting.timeout)) s: \(waitingFor.joined(separator: ", "))",
                              fix: "run cloudc start \(state.name) again to keep waiting (it resumes), or cloudc stop \(state.name)")
        }
        progress.report("All \(state.nodes.count) node(s) of \(state.name) are running")
    }

    /// Lets the provider attach what a node gets only once it runs (floating IPs), for every
    /// node with a public address (`ClusterSpec.hasPublicAddress`): new ones, and those adopted
    /// from an interrupted start.
    func attachPublicAddresses(_ state: inout ClusterState) async throws {
        var nodes: [String: String] = [:]
        for node in state.nodes {
            guard let id = node.instanceID, let group = state.spec.group(named: node.group), state.spec.hasPublicAddress(group) else { continue }
            nodes[node.name] = id
        }
        guard !nodes.isEmpty else { return }
        let addresses = try await provider.attachPublicAddresses(cluster: state.name, incarnation: state.incarnation, nodes: nodes)
        guard !addresses.isEmpty else { return }
        for index in state.nodes.indices {
            if let address = IPAddress.canonical(addresses[state.nodes[index].name]) { state.nodes[index].publicIP = address }
        }
        try store.save(state)
    }

    /// How long to wait for a cloud's guest agents to publish the nodes' host keys before their
    /// first contact is trusted instead.
    public static let hostKeyWait: Double = 120

    /// Records the host keys the cloud tells out of band for nodes that have none yet, waiting
    /// (bounded) for guest agents to publish them; nodes still without are trusted on first contact.
    func recordHostKeys(_ state: inout ClusterState) async throws {
        guard let source = provider.traits.hostKeySource else { return }
        func missing(_ state: ClusterState) -> [String: String] {
            var nodes: [String: String] = [:]
            for node in state.nodes where node.hostKeys == nil && node.isReady { if let id = node.instanceID { nodes[node.name] = id } }
            return nodes
        }
        guard !missing(state).isEmpty else { return }
        progress.report("Waiting for the nodes' host keys (\(source)), to check the first SSH connection against")
        var pace = waiting
        pace.timeout = min(pace.timeout, Self.hostKeyWait)
        var refused: CloudcError?
        let done: Bool? = try await pace.poll {
            let wanted = missing(state)
            let found: [String: [String]]
            do {
                found = try await provider.hostKeys(nodes: wanted)
            } catch let error as CloudcError where error.code == .permission || error.code == .credentials {
                // Not allowed to read them (an IAM policy without ec2:GetConsoleOutput): asking again won't help.
                refused = error
                return false
            } catch {
                found = [:]
            }
            if !found.isEmpty {
                for index in state.nodes.indices { if let keys = found[state.nodes[index].name] { state.nodes[index].hostKeys = keys } }
                try store.save(state)
            }
            return missing(state).isEmpty ? true : nil
        }
        if let refused {
            let names = missing(state).keys.sorted()
            progress.report("Could not read the host keys of \(names.joined(separator: ", ")) (\(refused.message)): "
                            + "their first SSH connection is trusted (and pinned)")
        } else if done != true {
            let names = missing(state).keys.sorted()
            progress.report("No host keys published for \(names.joined(separator: ", ")) within \(Int(pace.timeout)) s: "
                            + "their first SSH connection is trusted (and pinned)")
        }
        let silent = state.nodes.filter { $0.hostKeys == [] }.map(\.name)
        if !silent.isEmpty {
            progress.report("\(silent.joined(separator: ", ")) booted without telling host keys (\(source)): "
                            + "their first SSH connection is trusted (and pinned)")
        }
    }

    // MARK: stop

    public struct StopReport: Sendable {
        public var terminated: [String]
        public var deletedResources: [ResourceRecord]
        /// Instances with the cluster's name from another incarnation, left alone.
        public var foreign: [CloudInstance]
        /// The nodes were the user's own machines: released, not deleted.
        public var ownMachines = false
    }

    /// Deletes every instance and resource of cluster `name`, waits until the cloud reports
    /// them gone, and only then removes the state. Holds the cluster's lock.
    ///
    /// `beforeForgetting` removes what the cluster left on this machine outside the state (an
    /// installed SSH config); it runs, like the cluster's own files' removal, before the state
    /// file goes, so a stop killed at any point is finished by running it again.
    public func stop(name: String, command: String, beforeForgetting: @Sendable () throws -> Void = {}) async throws -> StopReport {
        try await store.withLock(name, command: command) {
            guard var state = try store.load(name) else {
                throw CloudcError(.notFound, "no cluster named '\(name)'", fix: "see the clusters with: cloudc list")
            }
            state.phase = .stopping
            try store.save(state)

            let observed = try await provider.instances(cluster: name, incarnation: state.incarnation)
            let plan = Planner.planStop(state: state, observed: observed)
            if !plan.terminate.isEmpty {
                progress.report(provider.traits.ownMachines ? "Releasing \(plan.terminate.count) machine(s) of \(name)"
                                : "Terminating \(plan.terminate.count) instance(s) of \(name)")
                try await provider.terminate(plan.terminate)
                Failpoint.kill(at: "stop.after-terminate-call")
            }
            try await waitUntilGone(plan.terminate, state: &state)
            Failpoint.kill(at: "stop.after-terminate")
            var deleted: [ResourceRecord] = []
            for resource in plan.deleteResources {
                var deleting = resource
                deleting.status = .deleting
                state.upsert(deleting)
                try store.save(state)
                progress.report("Deleting \(resource.kind.rawValue) \(resource.name)")
                try await provider.delete(resource)
                let gone: Bool? = try await waiting.poll { try await provider.exists(resource) ? nil : true }
                guard gone == true else {
                    throw CloudcError(.timeout, "\(resource.kind.rawValue) \(resource.name) still exists after it was deleted",
                                      fix: "run cloudc stop \(name) again; the state is kept until everything is gone")
                }
                Failpoint.kill(at: "stop.after-delete.\(resource.kind.rawValue)")
                state.resources.removeAll { $0.kind == resource.kind && $0.name == resource.name }
                try store.save(state)
                deleted.append(resource)
            }
            progress.report("Everything of \(name) is gone; removing its files and its state")
            Failpoint.kill(at: "stop.before-forgetting")
            try beforeForgetting()
            try store.removeClusterFiles(name)
            try store.remove(name)
            store.removeLockFile(name)
            if !plan.foreign.isEmpty {
                progress.report("Note: \(plan.foreign.count) instance(s) tagged cloudc:cluster=\(name) belong to another start of that name and were left alone: \(plan.foreign.map(\.id).joined(separator: ", "))")
            }
            return StopReport(terminated: plan.terminate, deletedResources: deleted, foreign: plan.foreign,
                              ownMachines: provider.traits.ownMachines)
        }
    }

    /// Polls until no instance of this incarnation is alive: those asked to terminate, and any
    /// that turn up meanwhile (a launch still in flight when stop began), which are terminated too.
    func waitUntilGone(_ ids: [String], state: inout ClusterState) async throws {
        var asked = Set(ids)
        var lastReport = ""
        let done: Bool? = try await waiting.poll {
            let alive = try await provider.instances(cluster: state.name, incarnation: state.incarnation).filter { $0.state.isLive }
            if alive.isEmpty { return true }
            let late = alive.map(\.id).filter { !asked.contains($0) }
            if !late.isEmpty {
                progress.report("Terminating \(late.count) instance(s) that appeared meanwhile: \(late.joined(separator: ", "))")
                try await provider.terminate(late)
                asked.formUnion(late)
            }
            let line = "Waiting for \(alive.count) instance(s) to terminate"
            if line != lastReport { progress.report(line); lastReport = line }
            return nil
        }
        guard done == true else {
            throw CloudcError(.timeout, "instances of \(state.name) did not terminate within \(Int(waiting.timeout)) s",
                              fix: "run cloudc stop \(state.name) again; the state is kept until everything is gone")
        }
        for index in state.nodes.indices { state.nodes[index].state = .terminated }
        try store.save(state)
    }
}

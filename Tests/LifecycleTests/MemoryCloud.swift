import CloudcCore
import Foundation

/// A cloud in memory that keeps what a real one keeps: idempotency tokens (a launch repeated
/// with its token gets the same instances back, as EC2's ClientToken and GCE's requestId give),
/// deterministic resource names, instances tagged with their cluster, incarnation, group, node
/// and launch token. It can be told to "crash" (throw `MemoryCloud.Crash`) at a chosen call,
/// before or after the call took effect, so the lifecycle's resume paths run in milliseconds.
final class MemoryCloud: CloudProvider, @unchecked Sendable {
    struct Crash: Error, Equatable { var at: String }

    enum Call: String, Sendable { case create, launch, terminate, delete }

    private let lock = NSLock()
    private var resources: [String: ResourceRecord] = [:]
    private var instancesByID: [String: CloudInstance] = [:]
    private var launchesByToken: [String: [String]] = [:]
    private var crashes: [(call: Call, group: String?, afterEffect: Bool)] = []
    private var nextID = 1
    /// Every call that took effect, in order (`launch compute`, `terminate i-3`, …).
    private(set) var log: [String] = []
    /// The `ssh_from` of every access rule asked for (a firewall, a security group), in order.
    private(set) var sshFromAsked: [String] = []
    /// Launches that made instances (a repeat of a token returns the first one's and is not counted).
    var launchCount: Int { lock.withLock { log.filter { $0.hasPrefix("launch ") }.count } }

    /// The next `call` (of `group`'s launch, when given) throws `Crash`, before it takes effect
    /// or, with `afterEffect`, after it (the cloud did it; the caller never heard).
    func crash(at call: Call, group: String? = nil, afterEffect: Bool) {
        lock.withLock { crashes.append((call, group, afterEffect)) }
    }

    private func crashPoint(_ call: Call, group: String? = nil, afterEffect: Bool) throws {
        let hit: Bool = lock.withLock {
            guard let index = crashes.firstIndex(where: { $0.call == call && $0.afterEffect == afterEffect && ($0.group == nil || $0.group == group) }) else {
                return false
            }
            crashes.remove(at: index)
            return true
        }
        if hit { throw Crash(at: "\(call.rawValue)\(afterEffect ? " after" : " before")") }
    }

    var live: [CloudInstance] { lock.withLock { instancesByID.values.filter { $0.state.isLive }.sorted { $0.id < $1.id } } }
    var resourceNames: [String] { lock.withLock { resources.keys.sorted() } }

    // MARK: CloudProvider

    func validate(_ spec: ClusterSpec) async throws {}

    func plannedResources(for request: AccessRequest) -> [ResourceRecord] {
        [ResourceRecord(kind: .securityGroup, name: "cloudc-\(request.cluster)-\(request.incarnation)")]
    }

    func create(_ resource: ResourceRecord, for request: AccessRequest) async throws -> ResourceRecord {
        lock.withLock { sshFromAsked.append(request.sshFrom) }
        try crashPoint(.create, afterEffect: false)
        let created: ResourceRecord = lock.withLock {
            if let found = resources[resource.name] { return found }
            var made = resource
            made.id = "sg-\(nextID)"; nextID += 1
            made.status = .created
            resources[resource.name] = made
            log.append("create \(resource.name)")
            return made
        }
        try crashPoint(.create, afterEffect: true)
        return created
    }

    func delete(_ resource: ResourceRecord) async throws {
        try crashPoint(.delete, afterEffect: false)
        lock.withLock {
            if resources.removeValue(forKey: resource.name) != nil { log.append("delete \(resource.name)") }
        }
        try crashPoint(.delete, afterEffect: true)
    }

    func exists(_ resource: ResourceRecord) async throws -> Bool { lock.withLock { resources[resource.name] != nil } }

    func launch(_ request: LaunchRequest) async throws -> [CloudInstance] {
        try crashPoint(.launch, group: request.group.name, afterEffect: false)
        let made: [CloudInstance] = lock.withLock {
            if let ids = launchesByToken[request.token] { return ids.compactMap { instancesByID[$0] } }
            var made: [CloudInstance] = []
            for (index, node) in request.nodes.enumerated() {
                let id = "i-\(nextID)"; nextID += 1
                var instance = CloudInstance(id: id, node: node, group: request.group.name, launchToken: request.token,
                                             incarnation: request.incarnation, state: .running, privateIP: "10.0.0.\(nextID)",
                                             flavor: request.group.flavor)
                instance.launchIndex = index
                instancesByID[id] = instance
                made.append(instance)
            }
            launchesByToken[request.token] = made.map(\.id)
            log.append("launch \(request.group.name) \(request.nodes.joined(separator: ","))")
            return made
        }
        try crashPoint(.launch, group: request.group.name, afterEffect: true)
        return made
    }

    func instances(cluster: String, incarnation: String?) async throws -> [CloudInstance] {
        lock.withLock {
            instancesByID.values.filter { incarnation == nil || $0.incarnation == incarnation }.sorted { $0.id < $1.id }
        }
    }

    func assign(node: String, cluster: String, instanceID: String) async throws {
        lock.withLock { instancesByID[instanceID]?.node = node }
    }

    func terminate(_ instanceIDs: [String]) async throws {
        try crashPoint(.terminate, afterEffect: false)
        lock.withLock {
            for id in instanceIDs where instancesByID[id]?.state.isLive == true {
                instancesByID[id]?.state = .terminated
                log.append("terminate \(id)")
            }
        }
        try crashPoint(.terminate, afterEffect: true)
    }

    /// Reclaims an instance behind cloudc's back (a spot reclaim, a delete in the console).
    func reclaim(node: String) {
        lock.withLock {
            for (id, instance) in instancesByID where instance.node == node && instance.state.isLive { instancesByID[id]?.state = .terminated }
        }
    }
}

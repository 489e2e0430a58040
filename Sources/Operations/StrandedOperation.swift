import CloudcCore
import Foundation
import State

/// What a cloud still holds of one start (incarnation) of a cluster whose state file is gone or
/// unreadable, found by the instances' tags and the resources' names.
public struct StrandedCluster: Sendable {
    public var name: String
    public var cloud: CloudSpec
    public var incarnation: String
    /// Instances not yet gone.
    public var instances: [CloudInstance]
    /// The start's planned resources that exist.
    public var resources: [ResourceRecord]

    public var isEmpty: Bool { instances.isEmpty && resources.isEmpty }

    /// One line per thing, as the user confirms them.
    public var lines: [String] {
        instances.map { "instance \($0.id)" + ($0.node.map { " (\($0))" } ?? "") + " \($0.state.rawValue)" + ($0.zone.map { " in \($0)" } ?? "") }
            + resources.map { "\($0.kind.rawValue) \($0.name)" }
    }
}

extension Operations {
    /// Everything `cloud` holds of cluster `name`, per start. Read-only.
    public func findStranded(name: String, cloud: CloudSpec) async throws -> [StrandedCluster] {
        try StateStore.validate(name: name)
        let provider = try clouds.provider(cloud)
        var found: [StrandedCluster] = []
        for incarnation in try await provider.incarnations(of: name).sorted() {
            let instances = try await provider.instances(cluster: name, incarnation: incarnation).filter { $0.state.isLive }
            var resources: [ResourceRecord] = []
            let probe = AccessRequest(cluster: name, incarnation: incarnation, sshFrom: "", publicKey: "", loginUser: "")
            for var resource in provider.plannedResources(for: probe) where try await provider.exists(resource) {
                resource.status = .created
                resources.append(resource)
            }
            let stranded = StrandedCluster(name: name, cloud: cloud, incarnation: incarnation,
                                           instances: instances.sorted { $0.id < $1.id }, resources: resources)
            if !stranded.isEmpty { found.append(stranded) }
        }
        return found
    }

    /// Removes a cluster's own files (lock, known_hosts, munge key) when it has no state file
    /// and no cloud holds anything of it: what a stop killed just after the state went leaves.
    /// Under the lock, so a command that holds it (a start that has not yet saved its state)
    /// is not robbed.
    public func forgetLeftoverFiles(name: String) async throws {
        try await store.withLock(name, command: "cloudc stop \(name)") {
            guard try store.load(name) == nil else { return }
            try store.removeClusterFiles(name)
            store.removeLockFile(name)
        }
    }

    /// Writes a state for a found start, so that the ordinary `stop` (which an interruption does
    /// not cut short: run again, it finishes) removes it. A state file that does not read is
    /// kept beside, renamed `<name>.json.unreadable-<time>`, never overwritten.
    public func adopt(_ stranded: StrandedCluster, spec: ClusterSpec) throws {
        let file = store.path(of: stranded.name)
        if FileManager.default.fileExists(atPath: file) {
            if (try? store.load(stranded.name)) != nil {
                throw CloudcError(.usage, "cluster '\(stranded.name)' has a state file: stop it as usual", fix: "cloudc stop \(stranded.name)")
            }
            let aside = file + ".unreadable-" + String(Int(Date().timeIntervalSince1970))
            guard rename(file, aside) == 0 else {
                throw CloudcError(.io, "cannot move the unreadable state file \(file) aside", cause: String(cString: strerror(errno)))
            }
        }
        var state = ClusterState(name: stranded.name, incarnation: stranded.incarnation, spec: spec, now: Date())
        state.phase = .stopping
        state.resources = stranded.resources
        state.nodes = stranded.instances.map { instance in
            NodeRecord(name: instance.node ?? instance.id, group: instance.group ?? "?", instanceID: instance.id,
                       privateIP: instance.privateIP, publicIP: instance.publicIP, state: instance.state,
                       flavor: instance.flavor ?? "?", zone: instance.zone)
        }
        try store.save(state)
    }
}

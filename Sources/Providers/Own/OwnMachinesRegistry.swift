import CloudcCore
import Foundation

/// Which of the user's own machines each cluster holds, for every cloud of this cloudc:
/// `<CLOUDC_HOME>/own-machines.json`, changed under a lock, so two clusters never take one
/// machine (even listed under two names, or in two clouds: a machine is its address and port).
struct OwnMachinesRegistry: Sendable {
    struct Lease: Codable, Equatable, Sendable {
        var cloud: String
        var host: String
        var address: String
        var port: Int
        var cluster: String
        var incarnation: String
        var node: String
        var group: String
        var token: String
        var login: NodeLogin
    }

    let path: String

    /// The lease that holds a machine, by the machine itself (address and port), whatever name
    /// or cloud lists it.
    static func lease(of host: ResolvedHost, in leases: [Lease]) -> Lease? {
        leases.first { $0.address == host.address && $0.port == host.login.port }
    }

    var lockPath: String { path + ".lock" }

    func read() throws -> [Lease] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        do {
            return try JSONDecoder().decode([Lease].self, from: data)
        } catch {
            throw CloudcError(.state, "\(path) is not a list of machine leases", fix: "restore it, or delete it if no cluster runs on own machines",
                              cause: "\(error)")
        }
    }

    func write(_ leases: [Lease]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(leases), to: path, mode: 0o600)
    }

    /// Runs `body` on the leases under the lock, saving what it leaves.
    func update<T>(_ body: (inout [Lease]) async throws -> T) async throws -> T {
        try await withFileLock(lockPath) {
            var leases = try read()
            let before = leases
            let value = try await body(&leases)
            if leases != before { try write(leases) }
            return value
        }
    }
}

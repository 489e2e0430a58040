import ArgumentParser
import CloudcCore
import Foundation
import Operations

struct Stop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete every VM and resource of a cluster, wait until the cloud reports them gone, then forget it.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The cluster (default: the one chosen with `use`, or the only one).")
    var name: String?

    func run() async throws {
        let wiring = Wiring(global)
        let name = try wiring.clusterName(self.name)
        let began = Date()
        let report = try await wiring.operations.stop(name: name, command: "cloudc stop \(name)") {
            wiring.removeInstalledSSHConfig(of: name)
        }
        let seconds = String(format: "%.1f", Date().timeIntervalSince(began))
        let resources = report.deletedResources.map { "\($0.kind.rawValue) \($0.name)" }
        wiring.context.note("Cluster \(name) is gone: \(report.terminated.count) instance(s) terminated"
            + (resources.isEmpty ? "" : ", deleted \(resources.joined(separator: ", "))") + " in \(seconds) s.")
    }
}

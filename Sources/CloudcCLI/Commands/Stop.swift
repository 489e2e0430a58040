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

    @Flag(help: "On your own machines (provider ssh), also remove the packages setup installed.")
    var purge = false

    func run() async throws {
        var configured = Wiring(global)
        configured.purgeOwnMachines = purge
        let wiring = configured
        let name = try wiring.clusterName(self.name)
        let began = Date()
        let report = try await wiring.operations.stop(name: name, command: "cloudc stop \(name)") {
            wiring.removeInstalledSSHConfig(of: name)
        }
        let seconds = String(format: "%.1f", Date().timeIntervalSince(began))
        let resources = report.deletedResources.map { "\($0.kind.rawValue) \($0.name)" }
        if report.ownMachines {
            wiring.context.note("Cluster \(name) is gone: \(report.terminated.count) machine(s) released, with setup undone"
                + (purge ? " and the packages it installed removed" : " (the packages it installed stay: `--purge` removes them)")
                + "; cloudc never powers off your own machines. \(seconds) s.")
            return
        }
        wiring.context.note("Cluster \(name) is gone: \(report.terminated.count) instance(s) terminated"
            + (resources.isEmpty ? "" : ", deleted \(resources.joined(separator: ", "))") + " in \(seconds) s.")
    }
}

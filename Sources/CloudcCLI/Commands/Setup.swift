import ArgumentParser
import CloudcCore
import Foundation
import Operations

struct Setup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Configure a cluster's nodes (SLURM, munge, shared /home); safe to run again.",
        discussion: "A second run changes nothing on a configured cluster; after a failure it continues where it stopped.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The cluster (default: the only one, or the one chosen with `cloudc use`).")
    var name: String?

    func run() async throws {
        let wiring = Wiring(global)
        let name = try wiring.clusterName(self.name)
        try await wiring.operations.setup(name: name, command: "cloudc setup \(name)")
    }
}

import CloudcCore
import Configurator
import Foundation
import Operations

/// What the operations tell, as the terminal shows it: tables on stdout, summaries on stderr.
struct PrintedEvents: OperationEvents {
    let context: CLIContext

    func nodesUp(_ state: ClusterState, seconds: Double) {
        for line in NodeTable.render(state.nodes) { context.print(line) }
        context.note("Cluster \(state.name) is up: \(state.nodes.count) node(s) in \(String(format: "%.1f", seconds)) s.")
    }

    func nothingToSetUp(cluster: String) {
        context.note("Cluster \(cluster) has no setup in its template; nothing to configure.")
    }

    func setupDone(cluster: String, report: SetupReport) {
        let roles = report.roles.filter { !$0.nodes.isEmpty }.map { String(format: "%@ %.1f s", $0.role, $0.seconds) }.joined(separator: ", ")
        context.note(String(format: "Setup of %@ done in %.1f s: %d changed, %d ok (%@).",
                            cluster, report.seconds, report.changedSteps, report.okSteps, roles))
    }

    func ready(cluster: String, seconds: Double) {
        context.note("Cluster \(cluster) is ready in \(String(format: "%.1f", seconds)) s. Log in with: cloudc ssh \(cluster)")
    }
}

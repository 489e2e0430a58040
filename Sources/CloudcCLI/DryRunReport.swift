import CloudcCore
import Operations

/// A dry run's plan as the user reads it: what was checked, one line per group, the totals.
enum DryRunReport {
    static func lines(_ plan: DryRunPlan, command: String) -> [String] {
        let owned = plan.cloud.provider == .local || plan.cloud.provider == .ssh
        var table = Table(header: ["GROUP", "NODES", "TYPE", "GPUS", "WHERE", "SPOT", "PRICE/NODE-HOUR"])
        for row in plan.rows {
            let gpus = row.gpus.map { "\($0.count)" + ($0.type.map { " × \($0)" } ?? "") } ?? "-"
            table.rows.append([row.group, "+\(row.nodes)", row.flavor, gpus, row.place, row.spot ? "yes" : "no", owned ? "none" : "unknown"])
        }
        return ["Dry run of \(command): nothing was created.",
                "Checked on \(plan.cloud.name) (\(plan.cloud.provider.rawValue)): \(plan.checked)."]
            + table.render()
            + ["Would add \(plan.nodes) node(s)" + (plan.gpus > 0 ? " with \(plan.gpus) GPU(s)" : "") + ". "
               + (owned ? "No cloud bills these: they run on \(plan.cloud.provider == .local ? "this machine" : "your own machines")."
                        : "Price unknown: cloudc has no price data for \(plan.cloud.name) (it never guesses one).")]
    }
}

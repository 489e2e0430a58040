import CloudcCore
import Operations

/// A dry run's plan as the user reads it: what was checked, one line per group, the totals.
enum DryRunReport {
    /// `cluster`: the groups and node counts the cluster would have afterwards (for a resize:
    /// with its nodes now), for the price of the whole.
    static func lines(_ plan: DryRunPlan, command: String, costs: Costs, cluster: [(group: NodeGroupSpec, count: Int)]) -> [String] {
        var table = Table(header: ["GROUP", "NODES", "TYPE", "GPUS", "WHERE", "SPOT", "PRICE/NODE-HOUR"])
        for row in plan.rows {
            let gpus = row.gpus.map { "\($0.count)" + ($0.type.map { " × \($0)" } ?? "") } ?? "-"
            let group = cluster.first { $0.group.name == row.group }?.group
            table.rows.append([row.group, (row.nodes >= 0 ? "+" : "") + "\(row.nodes)", row.flavor, gpus, row.place,
                               row.spot ? "yes" : "no", group.map(costs.cell) ?? "unknown"])
        }
        var lines = ["Dry run of \(command): nothing was created.",
                     "Checked on \(plan.cloud.name) (\(plan.cloud.provider.rawValue)): \(plan.checked)."]
        if let quota = plan.quota {
            lines.append(quota.prefix(1).uppercased() + quota.dropFirst() + ".")
        } else if !costs.unbilled {
            lines.append("Quotas: not checked (\(plan.cloud.provider.rawValue) reports none to this check; a start beyond one fails at launch, saying which).")
        }
        lines += table.render()
        let added = plan.rows.filter { $0.nodes > 0 }.compactMap { row in
            cluster.first { $0.group.name == row.group }.map { (group: $0.group, count: row.nodes) }
        }
        let what = "\(plan.nodes) node(s)" + (plan.gpus > 0 ? " with \(plan.gpus) GPU(s)" : "")
        lines.append("Would " + (plan.nodes >= 0 ? "add " : "remove ") + "\(abs(plan.nodes)) node(s)"
                     + (plan.gpus > 0 ? " with \(plan.gpus) GPU(s)" : "") + ".")
        let whole = cluster.reduce(0) { $0 + $1.count }
        // A resize: what the new nodes add, then the cluster as it would be.
        if !added.isEmpty && whole != plan.nodes { lines.append(costs.sentence(costs.total(added), what: "the added " + what)) }
        lines.append(costs.sentence(costs.total(cluster), what: "the whole cluster (\(whole) node(s))"))
        return lines
    }
}

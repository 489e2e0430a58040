import CloudcCore
import Foundation

/// What nodes cost per hour, from the fetched prices: per group, for a whole cluster, and the
/// sentence that says it with where the prices came from and how old they are.
struct Costs {
    let cloud: CloudSpec
    /// The cloud's prices; nil when none were fetched (or the cloud publishes none).
    let book: PriceBook?
    let now: Date

    /// Nodes on this machine or the user's own: no cloud bills them.
    var unbilled: Bool { cloud.provider == .local || cloud.provider == .ssh }

    func quote(_ group: NodeGroupSpec) -> PriceBook.Quote {
        if cloud.provider == .openstack { return .unknown("OpenStack clouds publish no prices") }
        guard let book else { return .unknown("no prices of \(cloud.name) fetched") }
        guard let region = Wiring.priceRegion(of: cloud, book: book) else { return .unknown("the region is not known") }
        return book.quote(flavor: group.flavor, gpus: group.gpus, spot: group.spot, region: region)
    }

    /// A price per node-hour as a table shows it.
    func cell(_ group: NodeGroupSpec) -> String {
        if unbilled { return "none" }
        switch quote(group) {
        case .exact(let price): return PriceBook.money(price, currency: book?.currency ?? "USD")
        case .atMost(let price): return "≤ " + PriceBook.money(price, currency: book?.currency ?? "USD") + " (spot)"
        case .unknown: return "unknown"
        }
    }

    struct Total {
        var perHour = 0.0
        /// Some nodes are spot, priced at their on-demand ceiling.
        var atMost = false
        /// Groups without a price, with why.
        var unknown: [(group: String, reason: String)] = []
    }

    /// The price per hour of `count` nodes of each group.
    func total(_ groups: [(group: NodeGroupSpec, count: Int)]) -> Total {
        var total = Total()
        for (group, count) in groups where count > 0 {
            switch quote(group) {
            case .exact(let price): total.perHour += Double(count) * price
            case .atMost(let price): total.perHour += Double(count) * price; total.atMost = true
            case .unknown(let reason): total.unknown.append((group.name, reason))
            }
        }
        return total
    }

    /// `$1.234 per hour (AWS Price List …, fetched 2026-12-05, 2 day(s) ago)`, or why no price.
    func sentence(_ total: Total, what: String) -> String {
        if unbilled {
            return "No cloud bills \(what): \(cloud.provider == .local ? "they run on this machine" : "they are your own machines")."
        }
        if cloud.provider == .openstack { return "Price of \(what) unknown: OpenStack clouds publish no prices (cloudc never guesses one)." }
        guard let book else {
            return "Price of \(what) unknown: no prices of \(cloud.name) fetched yet (see: cloudc prices update \(cloud.name))."
        }
        let money = PriceBook.money(total.perHour, currency: book.currency)
        let source = "prices: \(book.source), \(book.age(now: now))"
        if total.unknown.isEmpty {
            return "\(what.prefix(1).uppercased() + what.dropFirst()) would cost \(total.atMost ? "at most " : "")\(money) per hour (\(source))."
        }
        let missing = total.unknown.map { "\($0.group): \($0.reason)" }.joined(separator: "; ")
        return "Price of \(what) unknown (\(missing))" + (total.perHour > 0 ? "; the priced nodes: \(money) per hour" : "") + " (\(source))."
    }
}

/// What a cluster's nodes cost now, per hour, and what they have cost since each was launched
/// (nodes already removed are not counted).
struct ClusterCost {
    let state: ClusterState
    let costs: Costs
    let now: Date

    var perHour: Costs.Total {
        costs.total(state.spec.groups.map { group in (group: group, count: state.nodes.filter { $0.group == group.name && $0.state != .terminated }.count) })
    }

    /// Σ over the nodes of their price × the hours since their launch was asked for.
    var soFar: Double? {
        var sum = 0.0
        for node in state.nodes where node.state != .terminated {
            guard let group = state.spec.group(named: node.group), let price = costs.quote(group).perHour,
                  let launched = state.launches.first(where: { $0.nodes.contains(node.name) })?.requestedAt else { return nil }
            sum += price * max(0, now.timeIntervalSince(launched)) / 3600
        }
        return sum
    }

    private var currency: String { costs.book?.currency ?? "USD" }

    var perHourCell: String {
        if costs.unbilled { return "none" }
        let total = perHour
        guard total.unknown.isEmpty else { return "unknown" }
        return (total.atMost ? "≤ " : "") + PriceBook.money(total.perHour, currency: currency)
    }

    var soFarCell: String {
        if costs.unbilled { return "none" }
        guard perHour.unknown.isEmpty, let soFar else { return "unknown" }
        return (perHour.atMost ? "≤ " : "") + PriceBook.money(soFar, currency: currency)
    }
}

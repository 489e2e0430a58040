import ArgumentParser
import CloudcCore
import Config
import Foundation
import Operations

struct Start: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a cluster from a template, or resume starting one that was interrupted.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The cluster template in the config (see: cloudc list-templates).")
    var template: String

    @Option(name: .shortAndLong, help: "The cluster's name (default: the template's name).")
    var name: String?

    @Flag(help: "Create the nodes but do not configure them.")
    var noSetup = false

    @Flag(help: "Check the template against the cloud with read-only calls and print what would be created; create nothing.")
    var dryRun = false

    @Option(help: "Power the cluster off after it has been idle this long (no job, nobody logged in): 30m, 2h, or off. Overrides the template's autostop:.")
    var autostop: String?

    func run() async throws {
        let wiring = Wiring(global)
        let context = wiring.context
        let config = try wiring.loadConfig()
        var spec: ClusterSpec
        do {
            spec = try config.clusterSpec(template: template)
        } catch let error as CloudcError where error.code == .notFound && wiring.usesBuiltinConfig {
            throw CloudcError(.notFound, "there is no config file (\(wiring.configPath)), and the built-in config has only the template 'local'",
                              fix: "write a starter config for your clouds with: cloudc init \(StarterConfig.cloudNames[template] != nil ? template : "gce aws openstack") — or run: cloudc start local")
        }
        if wiring.usesBuiltinConfig {
            wiring.progress.report("No config file (\(wiring.configPath)): using the built-in template local (1 frontend + 2 compute nodes on this machine)")
            if !dryRun { try await LoginKey.ensure(wiring.expandTilde(spec.login.privateKey), progress: wiring.progress) }
        }
        let name = self.name ?? template
        if let autostop {
            spec.autostop = try Autostop.minutes(autostop)
            if spec.autostop != nil, spec.cloud.provider == .ssh {
                throw CloudcError(.usage, "cloudc never powers off your own machines (cloud \(spec.cloud.name))", fix: "leave out --autostop")
            }
        }
        if dryRun {
            let plan = try await wiring.operations.planStart(name: name, spec: spec)
            let groups = spec.groups.map { (group: $0, count: $0.count) }
            for line in DryRunReport.lines(plan, command: "cloudc start \(template)" + (self.name.map { " -n \($0)" } ?? ""),
                                           costs: wiring.costs(for: spec.cloud), cluster: groups) {
                context.print(line)
            }
            return
        }
        let nodes = spec.groups.reduce(0) { $0 + $1.count }
        let costs = wiring.costs(for: spec.cloud)
        wiring.progress.report(costs.sentence(costs.total(spec.groups.map { (group: $0, count: $0.count) }), what: "its \(nodes) node(s)"))
        try await wiring.operations.start(StartRequest(name: name, spec: spec, setup: !noSetup,
                                                       command: "cloudc start \(template) -n \(name)"))
        if (try? wiring.store.names().count) ?? 0 > 1, wiring.store.currentCluster() == nil {
            context.note("Several clusters exist: choose the one later commands act on with: cloudc use \(name)")
        }
    }
}

enum NodeTable {
    static func render(_ nodes: [NodeRecord]) -> [String] {
        var table = Table(header: ["NAME", "GROUP", "INSTANCE", "PRIVATE-IP", "PUBLIC-IP", "STATE"])
        for node in nodes.sorted(by: { ($0.group, $0.name) < ($1.group, $1.name) }) {
            table.rows.append([node.name, node.group, node.instanceID ?? "-", node.privateIP ?? "-",
                               node.publicIP ?? "-", node.state.rawValue])
        }
        return table.render()
    }
}

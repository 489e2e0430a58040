import ArgumentParser
import CloudcCore
import Config
import Foundation
import Providers
import SSH
import State

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

    func run() async throws {
        let wiring = Wiring(global)
        let context = wiring.context
        let config = try wiring.loadConfig()
        let spec: ClusterSpec
        do {
            spec = try config.clusterSpec(template: template)
        } catch let error as CloudcError where error.code == .notFound && wiring.usesBuiltinConfig {
            throw CloudcError(.notFound, "there is no config file (\(wiring.configPath)), and the built-in config has only the template 'local'",
                              fix: "write a starter config for your clouds with: cloudc init \(StarterConfig.cloudNames[template] != nil ? template : "gce aws openstack") — or run: cloudc start local")
        }
        if wiring.usesBuiltinConfig {
            wiring.progress.report("No config file (\(wiring.configPath)): using the built-in template local (1 frontend + 2 compute nodes on this machine)")
            try await LoginKey.ensure(wiring.expandTilde(spec.login.privateKey), progress: wiring.progress)
        }
        let name = self.name ?? template
        try StateStore.validate(name: name)
        let publicKey = try wiring.readPublicKey(spec.login)

        let began = Date()
        let lifecycle = try wiring.lifecycle(for: spec.cloud)
        // One lock from the first read of the state to the end of the setup: no other cloudc
        // runs between the launch and the setup.
        try await wiring.store.withLock(name, command: "cloudc start \(template) -n \(name)") {
            let existing = try wiring.store.load(name)
            let sshFrom = try await resolveSSHFrom(recorded: existing?.spec.sshFrom, spec: spec, wiring: wiring)
            if var interrupted = existing, interrupted.resize != nil {
                // A resize an interrupted command left is finished first, to the size it asked for
                // (a state from before ssh_from was recorded gets the one resolved now: it needs it).
                if interrupted.spec.sshFrom == nil { interrupted.spec.sshFrom = sshFrom; try wiring.store.save(interrupted) }
                try await wiring.finishInterruptedResize(&interrupted)
            }
            var state = try await lifecycle.startHoldingLock(name: name, spec: spec, sshFrom: sshFrom, publicKey: publicKey)
            try wiring.forgetReplacedNodes(before: existing, after: state)
            try wiring.pinOutOfBandKeys(state, into: KnownHosts(path: wiring.store.knownHostsPath(of: name)))
            for line in NodeTable.render(state.nodes) { context.print(line) }
            let seconds = String(format: "%.1f", Date().timeIntervalSince(began))
            context.note("Cluster \(name) is up: \(state.nodes.count) node(s) in \(seconds) s.")
            Failpoint.pause(at: "start.before-setup", progress: wiring.progress)
            if !noSetup, spec.setup != nil {
                try await wiring.runSetup(&state)
                let total = String(format: "%.1f", Date().timeIntervalSince(began))
                context.note("Cluster \(name) is ready in \(total) s. Log in with: cloudc ssh \(name)")
            }
        }
        if (try? wiring.store.names().count) ?? 0 > 1, wiring.store.currentCluster() == nil {
            context.note("Several clusters exist: choose the one later commands act on with: cloudc use \(name)")
        }
    }
}

extension Start {
    /// The address SSH is let in from: the one the cluster recorded, else the template's
    /// `ssh_from`, else (local nodes) this machine, else the caller's public address, looked up.
    /// Never the whole internet.
    func resolveSSHFrom(recorded: String?, spec: ClusterSpec, wiring: Wiring) async throws -> String {
        if let recorded { return recorded }
        if let configured = spec.sshFrom { return configured }
        // Local nodes sit on a bridge only this machine reaches: no public address to find.
        if spec.cloud.provider == .local { return "127.0.0.1/32" }
        if !global.quiet { wiring.context.note("• Finding your public address to allow SSH from it (set ssh_from: to skip)…") }
        return try await CallerAddress.cidr(
            transport: wiring.transport,
            serviceURL: wiring.context.environment["CLOUDC_CHECKIP_URL"] ?? CallerAddress.defaultServiceURL,
            template: template)
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

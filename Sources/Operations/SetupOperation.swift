import CloudcCore
import Configurator
import Foundation
import SSH
import State

extension Operations {
    /// `cloudc setup NAME`: finishes a resize an interrupted command left (with its own setup),
    /// then configures the cluster's nodes, unless that resize already did. Holds the lock.
    public func setup(name: String, command: String) async throws {
        try await store.withLock(name, command: command) {
            var state = try loadState(name)
            let provider = try clouds.provider(clouds.cloudOf(state))
            let finished = try await finishInterruptedResize(&state, provider: provider)
            if finished == nil || state.setupCompletedAt == nil {
                try await runSetup(&state, traits: provider.traits)
            }
        }
    }

    /// `cloudc autostop NAME 30m|off`: records the idle time and runs the setup, whose autostop
    /// role writes it on the nodes (the rest of setup is found done). Holds the lock.
    public func setAutostop(name: String, minutes: Int?, command: String) async throws {
        try await store.withLock(name, command: command) {
            var state = try loadState(name)
            if minutes != nil, state.spec.cloud.provider == .ssh {
                throw CloudcError(.usage, "cluster \(name) runs on your own machines, which cloudc never powers off")
            }
            guard state.spec.setup != nil else {
                throw CloudcError(.usage, "cluster \(name) has no setup, and autostop works through its SLURM",
                                  fix: "give its template a setup (setup: slurm), start it anew, then set autostop")
            }
            state.spec.autostop = minutes
            try store.save(state)
            let provider = try clouds.provider(clouds.cloudOf(state))
            try await runSetup(&state, traits: provider.traits)
        }
    }

    /// Runs the cluster's setup on its nodes, leaving out `excluding`. The caller holds the lock.
    /// Records the time of a complete setup in the state.
    @discardableResult
    func runSetup(_ state: inout ClusterState, traits: ProviderTraits, excluding: Set<String> = []) async throws -> SetupReport? {
        guard let setup = state.spec.setup else {
            events.nothingToSetUp(cluster: state.name)
            return nil
        }
        let share = try shareDirectory()
        let (playbook, templates) = try loadPlaybook(setup.playbook, share: share)
        let secrets = ["munge.key": SecretFile(bytes: try store.mungeKey(of: state.name))]
        let target = try ClusterSetup.target(state: state, traits: traits, vars: setup.vars,
                                             secrets: secrets, excluding: excluding)
        let knownHosts = KnownHosts(path: store.knownHostsPath(of: state.name))
        try pinOutOfBandKeys(state, into: knownHosts)
        let runner = ClusterSetup(playbook: playbook, templates: templates,
                                  identity: identity(state.spec.login), knownHosts: knownHosts,
                                  connector: nodes.connector, fanOut: nodes.fanOut, progress: progress)
        progress.report("Setting up \(state.name) with playbook \(playbook.name) on \(target.nodes.count) node(s)")
        state.setupCompletedAt = nil
        try store.save(state)
        let report = try await runner.run(target, user: state.spec.login.user)
        if excluding.isEmpty {
            state.setupCompletedAt = Date()
            try store.save(state)
        }
        events.setupDone(cluster: state.name, report: report)
        return report
    }

    /// A setup's `playbook:`: a path to a `.yaml` file of the user's, whose templates are looked up
    /// in a `templates/` folder beside it, then among cloudc's; else the name of one of cloudc's.
    /// Every template the playbook names must be found before any node is touched.
    func loadPlaybook(_ playbook: String, share: String) throws -> (Playbook, TemplateStore) {
        let shared = share + "/templates"
        guard playbook.hasSuffix(".yaml") else {
            return (try Playbook.load(name: playbook, directory: share + "/playbooks"), TemplateStore(directory: shared))
        }
        let path = expandTilde(playbook) as NSString
        let folder = path.deletingLastPathComponent
        let loaded = try Playbook.load(name: (path.lastPathComponent as NSString).deletingPathExtension, directory: folder)
        let templates = TemplateStore(directories: [folder + "/templates", shared])
        try loaded.checkTemplates(in: templates, file: path as String)
        return (loaded, templates)
    }
}

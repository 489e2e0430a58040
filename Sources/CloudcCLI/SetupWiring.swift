import CloudcCore
import Configurator
import Foundation
import SSH
import State

/// The parts of `setup`, `ssh` and `resize`: where playbooks live, how nodes are reached.
extension Wiring {
    /// The folder holding `playbooks/` and `templates/`: `$CLOUDC_SHARE`, else
    /// `<prefix>/share/cloudc` beside the installed binary, else the source tree the binary was built in.
    func shareDirectory() throws -> String {
        var candidates: [String] = []
        if let share = context.environment["CLOUDC_SHARE"], !share.isEmpty { candidates.append(share) }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var dir = (exe as NSString).deletingLastPathComponent
            candidates.append((dir as NSString).deletingLastPathComponent + "/share/cloudc")
            for _ in 0..<5 {
                candidates.append(dir)
                dir = (dir as NSString).deletingLastPathComponent
            }
        }
        for dir in candidates where FileManager.default.fileExists(atPath: dir + "/playbooks")
            && FileManager.default.fileExists(atPath: dir + "/templates") {
            return dir
        }
        throw CloudcError(.config, "cannot find cloudc's playbooks/ and templates/ folders",
                          fix: "set CLOUDC_SHARE to the folder that holds them (the cloudc source tree, or /usr/local/share/cloudc)")
    }

    func identity(_ login: LoginSpec) -> SSHIdentity {
        SSHIdentity(privateKeyPath: expandTilde(login.privateKey), publicKeyPath: expandTilde(login.publicKey))
    }

    /// SSH pacing: `CLOUDC_SSH_WAIT` seconds for a booting node's sshd (default 300).
    var connector: SSHConnector {
        var connector = SSHConnector()
        if let text = context.environment["CLOUDC_SSH_WAIT"], let seconds = Double(text), seconds > 0 {
            connector.waitTimeout = seconds
        }
        return connector
    }

    /// Nodes configured at once: `CLOUDC_FANOUT` (default 64).
    var fanOut: Int {
        context.environment["CLOUDC_FANOUT"].flatMap(Int.init).map { max(1, $0) } ?? 64
    }

    /// Runs the cluster's setup on its nodes, leaving out `excluding`. The caller holds the lock.
    /// Records the time of a complete setup in the state.
    @discardableResult
    func runSetup(_ state: inout ClusterState, excluding: Set<String> = []) async throws -> SetupReport? {
        guard let setup = state.spec.setup else {
            context.note("Cluster \(state.name) has no setup in its template; nothing to configure.")
            return nil
        }
        let share = try shareDirectory()
        let playbookPath = setup.playbook.hasSuffix(".yaml") ? expandTilde(setup.playbook) : nil
        let playbook = try playbookPath.map {
            try Playbook.load(name: (($0 as NSString).lastPathComponent as NSString).deletingPathExtension,
                              directory: ($0 as NSString).deletingLastPathComponent)
        } ?? Playbook.load(name: setup.playbook, directory: share + "/playbooks")
        let provider = try self.provider(for: cloudSpec(for: state))
        let secrets = ["munge.key": SecretFile(bytes: try store.mungeKey(of: state.name))]
        let target = try ClusterSetup.target(state: state, traits: provider.traits, vars: setup.vars,
                                             secrets: secrets, excluding: excluding)
        let knownHosts = KnownHosts(path: store.knownHostsPath(of: state.name))
        try pinOutOfBandKeys(state, into: knownHosts)
        let runner = ClusterSetup(playbook: playbook, templates: TemplateStore(directory: share + "/templates"),
                                  identity: identity(state.spec.login), knownHosts: knownHosts,
                                  connector: connector, fanOut: fanOut, progress: progress)
        progress.report("Setting up \(state.name) with playbook \(playbook.name) on \(target.nodes.count) node(s)")
        state.setupCompletedAt = nil
        try store.save(state)
        let report = try await runner.run(target, user: state.spec.login.user)
        if excluding.isEmpty {
            state.setupCompletedAt = Date()
            try store.save(state)
        }
        context.note(String(format: "Setup of %@ done in %.1f s: %d changed, %d ok.",
                            state.name, report.seconds, report.changedSteps, report.okSteps))
        return report
    }

    /// Runs `body` with a session to `node`, closed after it whether it returns or throws.
    func withSession<T>(to node: NodeRecord, of state: ClusterState, _ body: (SSHSession) async throws -> T) async throws -> T {
        let session = try await self.session(to: node, of: state)
        do {
            let value = try await body(session)
            await session.close()
            return value
        } catch {
            await session.close()
            throw error
        }
    }

    /// A session to one node, pinning its host key on first contact.
    func session(to node: NodeRecord, of state: ClusterState) async throws -> SSHSession {
        guard let address = NodeRoute(node)?.address, node.isReady else {
            throw CloudcError(.state, "node \(node.name) of \(state.name) is not running (\(node.state.rawValue))",
                              fix: "bring it up with: cloudc start \(state.spec.template) -n \(state.name)")
        }
        let knownHosts = KnownHosts(path: store.knownHostsPath(of: state.name))
        try pinOutOfBandKeys(state, into: knownHosts)
        return try await connector.waitAndConnect(
            to: SSHEndpoint(host: address, user: state.spec.login.user), identity: identity(state.spec.login),
            knownHosts: knownHosts,
            progress: { [progress] line in progress.report(line) })
    }

    /// Pins the host keys the provider told out of band (the local provider's, made at boot)
    /// under the address cloudc connects to, so the first connection is checked, not trusted.
    func pinOutOfBandKeys(_ state: ClusterState, into knownHosts: KnownHosts) throws {
        for node in state.nodes {
            guard let keys = node.hostKeys, !keys.isEmpty, let address = NodeRoute(node)?.address else { continue }
            try knownHosts.pin(host: address, keys: keys)
        }
    }

    /// Drops the pinned host keys of nodes whose instance was replaced (a lost node relaunched,
    /// a node removed): their successor may come up on the same address with a new key.
    func forgetReplacedNodes(before: ClusterState?, after: ClusterState) throws {
        guard let before else { return }
        let knownHosts = KnownHosts(path: store.knownHostsPath(of: after.name))
        for old in before.nodes where old.instanceID != nil && after.node(named: old.name)?.instanceID != old.instanceID {
            for address in Set([old.publicIP, old.privateIP].compactMap { $0 }) {
                try knownHosts.forget(host: address)
            }
        }
    }
}

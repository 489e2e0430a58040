import CloudcCore
import Foundation
import SSH

/// `cloudc setup`: connects to every node of a cluster (waiting for sshd where a node is
/// still booting), runs the playbook, and closes the sessions.
public struct ClusterSetup: Sendable {
    public var playbook: Playbook
    public var templates: TemplateStore
    public var identity: SSHIdentity
    public var knownHosts: KnownHosts
    public var connector: SSHConnector
    public var fanOut: Int
    public var progress: any ProgressSink

    public init(playbook: Playbook, templates: TemplateStore, identity: SSHIdentity, knownHosts: KnownHosts,
                connector: SSHConnector = SSHConnector(), fanOut: Int = 64, progress: any ProgressSink) {
        self.playbook = playbook; self.templates = templates; self.identity = identity
        self.knownHosts = knownHosts; self.connector = connector; self.fanOut = fanOut; self.progress = progress
    }

    /// The setup view of a cluster's ready nodes, leaving out `excluding` (nodes being removed).
    public static func target(state: ClusterState, traits: ProviderTraits, vars: [String: String],
                              secrets: [String: SecretFile], excluding: Set<String> = []) throws -> SetupTarget {
        guard let frontendGroup = state.frontendGroup else {
            throw CloudcError(.state, "cluster \(state.name) has no node groups", fix: "stop it and start it again")
        }
        let notReady = state.nodes.filter { !$0.isReady && !excluding.contains($0.name) }.map(\.name)
        guard notReady.isEmpty else {
            throw CloudcError(.state, "nodes \(notReady.joined(separator: ", ")) of \(state.name) are not running",
                              fix: "run `cloudc start \(state.spec.template) -n \(state.name)` to bring them up, then setup again")
        }
        let nodes = state.nodes.filter { !excluding.contains($0.name) }.compactMap { node -> SetupNode? in
            guard let privateIP = node.privateIP else { return nil }
            return SetupNode(name: node.name, group: node.group, route: NodeRoute(node, in: state) ?? NodeRoute(address: privateIP),
                             privateAddress: privateIP, host: node.login?.host)
        }.sorted { ($0.group == frontendGroup ? 0 : 1, $0.name) < ($1.group == frontendGroup ? 0 : 1, $1.name) }
        var groups = state.spec.groups.map(\.name)
        groups.removeAll { $0 == frontendGroup }
        return SetupTarget(cluster: state.name, groups: [frontendGroup] + groups, frontendGroup: frontendGroup,
                           nodes: nodes, vars: vars, traits: traits, secrets: secrets, sudo: state.spec.login.user != "root",
                           sharedHome: traits.sharedHome || state.spec.sharedHome == true, autostop: state.spec.autostop ?? 0)
    }

    /// Connects, runs the playbook, closes.
    public func run(_ target: SetupTarget, user: String) async throws -> SetupReport {
        let shells = try await connect(target.nodes, user: user)
        do {
            let configurator = Configurator(playbook: playbook, templates: templates, fanOut: fanOut, progress: progress)
            let report = try await configurator.run(on: target, shells: shells)
            await close(shells)
            return report
        } catch {
            await close(shells)
            throw error
        }
    }

    /// One session per node, all at once (bounded), reporting which nodes SSH is still awaited on.
    public func connect(_ nodes: [SetupNode], user: String) async throws -> [String: any RemoteShell] {
        let waiting = WaitingNodes(names: nodes.map(\.name), progress: progress)
        let connector = self.connector, identity = self.identity, knownHosts = self.knownHosts
        let results: [Result<SSHSession, Error>] = try await forEachBounded(nodes, limit: fanOut) { node in
            do {
                let session = try await connector.waitAndConnect(
                    to: SSHEndpoint(route: node.route, user: user),
                    identity: node.route.key.map { SSHIdentity(privateKeyPath: $0) } ?? identity, knownHosts: knownHosts,
                    progress: { _ in Task { await waiting.stillWaiting(node.name) } })
                await waiting.done(node.name)
                return .success(session)
            } catch {
                await waiting.done(node.name)
                return .failure(error)
            }
        }
        var shells: [String: any RemoteShell] = [:]
        var failures: [(String, Error)] = []
        for (node, result) in zip(nodes, results) {
            switch result {
            case .success(let session): shells[node.name] = session
            case .failure(let error): failures.append((node.name, error))
            }
        }
        guard failures.isEmpty else {
            await close(shells)
            if failures.count == 1, let error = failures[0].1 as? CloudcError {
                throw CloudcError(error.code, "\(failures[0].0): \(error.message)", fix: error.fix, cause: error.cause)
            }
            let lines = failures.map { "\($0.0): \($0.1)" }.joined(separator: "\n  ")
            let code = (failures.first?.1 as? CloudcError)?.code ?? .connection
            throw CloudcError(code, "cannot log in to \(failures.count) nodes:\n  \(lines)",
                              fix: (failures.first?.1 as? CloudcError)?.fix)
        }
        return shells
    }

    func close(_ shells: [String: any RemoteShell]) async {
        for shell in shells.values { await shell.close() }
    }
}

/// The nodes SSH is still awaited on, reported at most every few seconds.
actor WaitingNodes {
    private var waiting: Set<String> = []
    private let all: Set<String>
    private let progress: any ProgressSink
    private var lastReport = Date.distantPast
    private let started = Date()

    init(names: [String], progress: any ProgressSink) {
        self.all = Set(names); self.progress = progress
    }

    func stillWaiting(_ node: String) {
        waiting.insert(node)
        guard Date().timeIntervalSince(lastReport) >= 5 else { return }
        lastReport = Date()
        let names = waiting.sorted()
        progress.report("waiting for SSH on \(names.count) of \(all.count) nodes: \(names.prefix(8).joined(separator: ", "))"
                        + (names.count > 8 ? ", …" : "") + " (\(Int(Date().timeIntervalSince(started))) s)")
    }

    func done(_ node: String) { waiting.remove(node) }
}

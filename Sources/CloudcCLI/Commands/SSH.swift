import ArgumentParser
import CloudcCore
import Foundation
import Operations

struct Ssh: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssh",
        abstract: "Log in to a node (the frontend by default) with the system ssh, or run a command there.",
        discussion: "Uses the cluster's key and its own known_hosts, whose host keys cloudc pinned on first contact.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The cluster (default: the only one, or the one chosen with `cloudc use`).")
    var name: String?

    @Option(name: [.short, .customLong("node")], help: "The node to log in to (default: the frontend).")
    var node: String?

    @Argument(parsing: .postTerminator, help: "A command to run instead of a shell (after --).")
    var command: [String] = []

    func run() async throws {
        let wiring = Wiring(global)
        let context = wiring.context
        let name = try wiring.clusterName(self.name)
        let state = try wiring.loadState(name)
        guard let target = node.map({ state.node(named: $0) }) ?? state.frontend else {
            throw CloudcError(.notFound, "cluster \(name) has no node named '\(node ?? "frontend")'",
                              fix: "see its nodes with: cloudc list-nodes \(name)")
        }
        // Pin (or check) the host key with libssh2 first, so the system ssh can insist on it.
        try await wiring.operations.withSession(to: target, of: state) { _ in }
        guard let ssh = ["/usr/bin/ssh", "/bin/ssh"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw CloudcError(.unsupported, "the system ssh is not installed", fix: "install it: apt-get install openssh-client")
        }
        let login = state.spec.login
        let route = NodeRoute(target, in: state) ?? NodeRoute(address: "")
        let user = route.user ?? login.user
        for who in [user, route.jumpUser ?? user] where !ConfigValueCheck.isLoginUser(who) {
            throw CloudcError(.config, "the login user \(String(reflecting: who)) of cluster \(name) is not a user name ssh takes",
                              fix: "use letters, digits, '_', '-', '.' and '@', not starting with '-'")
        }
        let common = ["-i", wiring.expandTilde(route.key ?? login.privateKey),
                      "-o", "UserKnownHostsFile=\(wiring.store.knownHostsPath(of: name))",
                      "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes",
                      "-o", "GlobalKnownHostsFile=/dev/null"]
        let options = common + ["-l", user, "-p", String(route.port)]
        // A node behind the frontend (or a jump host): the same key and known_hosts for the hop
        // (ProxyJump would log into it with the user's own ssh settings instead).
        let jump = route.jump.map { front -> [String] in
            let words = [ssh] + common + ["-l", route.jumpUser ?? user, "-p", String(route.jumpPort), "-W", "%h:%p", "--", front]
            let command = words.map { Shell.quote($0).replacingOccurrences(of: "%", with: "%%") }.joined(separator: " ")
            return ["-o", "ProxyCommand=" + command.replacingOccurrences(of: "%%h:%%p", with: "%h:%p")]
        } ?? []
        // `--` before the host: nothing after it (host, command) is read as an ssh option.
        let arguments = options + jump + ["--", route.address] + command
        let status = try await context.runForeground(ssh, arguments)
        if status != 0 { throw ExitCode(status) }
    }
}

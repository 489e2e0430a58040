import ArgumentParser
import CloudcCore
import Export
import Foundation

struct SshConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssh-config",
        abstract: "Print a cluster's OpenSSH config, or install it so that `ssh NAME` and `ssh NAME-NODE` just work.",
        discussion: """
        The config has Host NAME and NAME-FRONTEND for the frontend and Host
        NAME-NODE for every other running node, reached at its private address
        through the frontend (ProxyJump), with the cluster's key and the host
        keys cloudc pinned (StrictHostKeyChecking yes).

        --install writes it to ~/.ssh/cloudc-NAME.config (0600) and adds one
        line at the top of ~/.ssh/config (made, 0600, when missing; nothing
        else in it changes):
            Include ~/.ssh/cloudc-NAME.config
        `cloudc resize` brings the hosts in it up to date; `cloudc stop` removes
        the file and the line; --uninstall removes them now.

        Examples:
          cloudc ssh-config lab > lab.ssh && ssh -F lab.ssh lab-compute001 nproc
          cloudc ssh-config lab --install && rsync -a data/ lab:data/
        """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The cluster (default: the one chosen with `use`, or the only one).")
    var name: String?

    @Flag(help: "Write it to ~/.ssh/cloudc-NAME.config and include that from ~/.ssh/config.")
    var install = false

    @Flag(help: "Remove ~/.ssh/cloudc-NAME.config and its Include line (the cluster need not exist).")
    var uninstall = false

    func validate() throws {
        if install && uninstall { throw ValidationError("--install and --uninstall cannot go together") }
    }

    func run() async throws {
        let wiring = Wiring(global)
        let installation = SSHConfigInstallation(home: wiring.context.homeDirectory)
        if uninstall {
            let name = try wiring.clusterName(self.name)
            let outcome = try installation.uninstall(cluster: name)
            wiring.context.note(outcome.configChanged || outcome.hostsFileChanged
                ? "Removed \(installation.hostsPath(cluster: name)) and its Include line from \(installation.configPath)."
                : "The SSH config of \(name) was not installed; nothing to remove.")
            return
        }
        let state = try wiring.loadState(try wiring.clusterName(name))
        let handoff = try wiring.handoff(state)
        let text = SSHConfigFormat.render(handoff)
        guard install else {
            wiring.context.write(Array(text.utf8))
            return
        }
        let outcome = try installation.install(cluster: state.name, hosts: text)
        let hosts = handoff.reachableNodes.map { handoff.alias(of: $0) }
        wiring.context.note("Wrote \(installation.hostsPath(cluster: state.name))"
            + (outcome.configChanged ? " and included it from \(installation.configPath)." : " (already included from \(installation.configPath))."))
        wiring.context.note("Log in with: ssh \(state.name)   (hosts: \(state.name), \(hosts.joined(separator: ", ")))")
    }
}

extension Wiring {
    /// After a resize: an installed SSH config gets the cluster's nodes as they are now.
    func refreshInstalledSSHConfig(of name: String) {
        let installation = SSHConfigInstallation(home: context.homeDirectory)
        guard installation.isInstalled(cluster: name) else { return }
        do {
            let state = try loadState(name)
            try installation.refresh(cluster: name, hosts: SSHConfigFormat.render(try handoff(state)))
        } catch {
            context.note("warning: \(installation.hostsPath(cluster: name)) still lists the nodes from before: \(error)\n"
                + "  fix: cloudc ssh-config \(name) --install")
        }
    }

    /// After a cluster is gone: its installed SSH config and Include line go too. A failure here
    /// does not undo the stop, so it is a warning that says how to finish by hand.
    func removeInstalledSSHConfig(of name: String) {
        let installation = SSHConfigInstallation(home: context.homeDirectory)
        do {
            let outcome = try installation.uninstall(cluster: name)
            if outcome.configChanged || outcome.hostsFileChanged {
                context.note("Removed \(installation.hostsPath(cluster: name)) and its Include line from \(installation.configPath).")
            }
        } catch {
            context.note("warning: the SSH config of \(name) is still installed: \(error)\n"
                + "  fix: cloudc ssh-config \(name) --uninstall, or delete the line '\(SSHConfigInclude.line(cluster: name))' from \(installation.configPath)")
        }
    }
}

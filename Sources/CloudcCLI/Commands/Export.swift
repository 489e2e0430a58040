import ArgumentParser
import CloudcCore
import Export
import Foundation
import Operations

/// What `cloudc export` can write.
enum ExportFormat: String, ExpressibleByArgument, CaseIterable {
    case slurmConf = "slurm.conf"
    case sshConfig = "ssh-config"
    case clusterjob
    case ansibleInventory = "ansible-inventory"
    case json
}

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Hand a cluster to other tools: its slurm.conf, an SSH config, a ClusterJob block, an Ansible inventory, or JSON.",
        discussion: """
        Formats (-f, default json):
          json               the whole cluster: groups, nodes with addresses and
                             states, login user, key paths, files. No secrets.
          slurm.conf         /etc/slurm/slurm.conf read from the frontend over
                             SSH, byte for byte as deployed.
          ssh-config         an OpenSSH config: Host NAME and Host NAME-NODE per
                             node, the cluster's key and pinned host keys; nodes
                             other than the frontend through it (ProxyJump).
                             Install it with: cloudc ssh-config NAME --install
          clusterjob         a ClusterJob block ([NAME] Host User Bqs Alloc Repo
                             [NAME]) for its ssh_config; Host is the SSH alias
                             that `cloudc ssh-config --install` defines.
          ansible-inventory  an Ansible INI inventory: a group per node group,
                             [NAME:children] over them, each host with its
                             address, user, key and SSH options.

        Output goes to stdout, or to a file with -o. Examples:
          cloudc export lab -f slurm.conf -o slurm.conf
          cloudc export lab -f ssh-config -o lab.ssh && ssh -F lab.ssh lab-compute001
          cloudc export lab -f ansible-inventory -o hosts.ini
          ansible -i hosts.ini compute -m ping
        """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The cluster (default: the one chosen with `use`, or the only one).")
    var name: String?

    @Option(name: [.short, .customLong("format")],
            help: "slurm.conf, ssh-config, clusterjob, ansible-inventory or json.")
    var format: ExportFormat = .json

    @Option(name: [.short, .customLong("output")], help: "Write to this file instead of stdout (replaced whole).")
    var output: String?

    func run() async throws {
        let wiring = Wiring(global)
        let state = try wiring.loadState(try wiring.clusterName(name))
        let bytes: [UInt8]
        switch format {
        case .slurmConf: bytes = try await wiring.operations.deployedSlurmConf(of: state)
        case .sshConfig: bytes = Array(SSHConfigFormat.render(try wiring.handoff(state)).utf8)
        case .clusterjob: bytes = Array(ClusterJobFormat.render(try wiring.handoff(state)).utf8)
        case .ansibleInventory: bytes = Array(AnsibleInventoryFormat.render(try wiring.handoff(state)).utf8)
        case .json: bytes = Array(try JSONFormat.render(try wiring.handoff(state)).utf8)
        }
        if let output {
            let path = wiring.expandTilde(output)
            try AtomicFile.write(bytes, to: path, mode: 0o644)
            wiring.context.note("Wrote the \(format.rawValue) of \(state.name) to \(path).")
        } else {
            wiring.context.write(bytes)
        }
    }
}

extension Wiring {
    /// The cluster's state and where its files are, for the hand-off formats.
    func handoff(_ state: ClusterState) throws -> Handoff {
        try Handoff(state: state, privateKey: absolute(expandTilde(state.spec.login.privateKey)),
                publicKey: absolute(expandTilde(state.spec.login.publicKey)),
                knownHosts: store.knownHostsPath(of: state.name), stateFile: store.path(of: state.name))
    }

    /// A path that means the same from any directory (ssh and Ansible may run elsewhere).
    func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}

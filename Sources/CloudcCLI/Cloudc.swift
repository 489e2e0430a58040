import ArgumentParser

/// `cloudc`: a personal SLURM cluster on a cloud, in one command.
struct Cloudc: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloudc",
        abstract: "Personal SLURM clusters on EC2, GCE, OpenStack, your own machines or this machine.",
        discussion: """
        Config: $CLOUDC_HOME/config.yaml (CLOUDC_HOME defaults to ~/.cloudc), or -c PATH.
        State:  $CLOUDC_HOME/clusters/<name>.json
        """,
        subcommands: [Init.self, Start.self, Setup.self, Ssh.self, Resize.self, Stop.self, List.self, ListNodes.self,
                      ListTemplates.self, Use.self, Submit.self, Jobs.self, HarvestCommand.self, ExportCommand.self,
                      SshConfig.self, Prices.self, AutostopCommand.self, Doctor.self])
}

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: [.short, .customLong("config")], help: "The config file (default: $CLOUDC_HOME/config.yaml).")
    var config: String?

    @Flag(name: .shortAndLong, help: "Print no progress lines.")
    var quiet = false
}

import ArgumentParser
import CloudcCore
import Foundation

struct AutostopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autostop",
        abstract: "Set how long a running cluster may stay idle before it powers itself off (or off).",
        discussion: """
            The cluster enforces it itself, with no cloud credential on any node: once no job is \
            pending or running and nobody is logged in for that long, the workers power off, then \
            the frontend. A powered-off node no longer bills CPUs and GPUs (on EC2 it is \
            terminated); disks and addresses remain until `cloudc stop`.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("[NAME] IDLE: the cluster (default: the one chosen with `use`, or the only one), then the idle time: 30m, 2h, 1h30m, or off.",
                                 valueName: "name-and-idle"))
    var words: [String] = []

    func run() async throws {
        guard (1...2).contains(words.count) else {
            throw CloudcError(.usage, "autostop takes a cluster name (optional) and an idle time", fix: "for example: cloudc autostop mylab 30m")
        }
        let wiring = Wiring(global)
        let name = try wiring.clusterName(words.count == 2 ? words[0] : nil)
        let idle = words.last!
        let minutes = try Autostop.minutes(idle)
        try await wiring.operations.setAutostop(name: name, minutes: minutes, command: "cloudc autostop \(name) \(idle)")
        wiring.context.note(minutes.map { "Cluster \(name) powers itself off after \(Autostop.text($0)) idle (no job, nobody logged in)." }
                            ?? "Cluster \(name) no longer powers itself off.")
    }
}

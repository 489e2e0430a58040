import ArgumentParser
import CloudcCore
import Foundation
import Operations

struct Stop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete every VM and resource of a cluster, wait until the cloud reports them gone, then forget it.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The cluster (default: the one chosen with `use`, or the only one).")
    var name: String?

    @Flag(help: "On your own machines (provider ssh), also remove the packages setup installed.")
    var purge = false

    @Flag(help: "With no readable state file: delete what the clouds hold of the cluster without asking.")
    var force = false

    @Option(help: "With no readable state file: the cloud of the config to search (default: the template's of that name, else every cloud).")
    var cloud: String?

    func run() async throws {
        var configured = Wiring(global)
        configured.purgeOwnMachines = purge
        let wiring = configured
        let name = try wiring.clusterName(self.name)
        let began = Date()
        var unreadable: CloudcError?
        do {
            if try wiring.store.load(name) == nil {
                try await StrandedStop(wiring: wiring, name: name, cloud: cloud, force: force, unreadable: nil).run()
                return
            }
        } catch let error as CloudcError where error.code == .state {
            unreadable = error
        }
        if let unreadable {
            try await StrandedStop(wiring: wiring, name: name, cloud: cloud, force: force, unreadable: unreadable).run()
            return
        }
        let report = try await wiring.operations.stop(name: name, command: "cloudc stop \(name)") {
            wiring.removeInstalledSSHConfig(of: name)
        }
        let seconds = String(format: "%.1f", Date().timeIntervalSince(began))
        let resources = report.deletedResources.map { "\($0.kind.rawValue) \($0.name)" }
        if report.ownMachines {
            wiring.context.note("Cluster \(name) is gone: \(report.terminated.count) machine(s) released, with setup undone"
                + (purge ? " and the packages it installed removed" : " (the packages it installed stay: `--purge` removes them)")
                + "; cloudc never powers off your own machines. \(seconds) s.")
            return
        }
        wiring.context.note("Cluster \(name) is gone: \(report.terminated.count) instance(s) terminated"
            + (resources.isEmpty ? "" : ", deleted \(resources.joined(separator: ", "))") + " in \(seconds) s.")
    }
}

/// `cloudc stop NAME` when the state file is gone or does not read: the clouds are searched for
/// what they hold of the cluster (instances by tag, resources by name), the user confirms (or
/// gave `--force`), and each start found is stopped by the ordinary stop from a state written
/// for it, so an interruption is finished by running the command again.
struct StrandedStop {
    let wiring: Wiring
    let name: String
    let cloud: String?
    let force: Bool
    let unreadable: CloudcError?

    func run() async throws {
        let context = wiring.context
        let config = try wiring.loadConfig()
        let searched: [CloudSpec]
        if let cloud {
            guard let spec = config.clouds[cloud] else {
                throw CloudcError(.notFound, "no cloud '\(cloud)' in \(config.path)", fix: "name one of: \(config.clouds.keys.sorted().joined(separator: ", "))")
            }
            searched = [spec]
        } else if let template = try? config.clusterSpec(template: name) {
            searched = [template.cloud]
        } else {
            searched = config.clouds.keys.sorted().compactMap { config.clouds[$0] }.filter { $0.provider != .ssh }
        }
        let why = unreadable.map { "its state file does not read (\($0.message))" } ?? "there is no state file"
        context.note("• \(name): \(why); searching \(searched.map(\.name).joined(separator: ", ")) for what is left of it")
        var found: [StrandedCluster] = []
        var failures: [String] = []
        for cloud in searched {
            do {
                found += try await wiring.operations.findStranded(name: name, cloud: cloud)
            } catch {
                failures.append("\(cloud.name): \(error)")
            }
        }
        for failure in failures { context.note("  could not search \(failure)") }
        guard !found.isEmpty else {
            if failures.isEmpty, unreadable == nil { try? await wiring.operations.forgetLeftoverFiles(name: name) }
            let fix = failures.isEmpty ? "nothing to do: no cloud searched holds anything tagged or named for \(name)"
                : "fix the search of \(failures.count) cloud(s) above, then run the command again"
            throw CloudcError(failures.isEmpty ? .notFound : .unavailable,
                              "no cluster named '\(name)': \(why), and \(failures.isEmpty ? "the clouds hold nothing of it" : "not every cloud could be searched")",
                              fix: fix)
        }
        for stranded in found {
            context.print("\(stranded.cloud.name) holds, of \(name) (start \(stranded.incarnation)):")
            for line in stranded.lines { context.print("  " + line) }
        }
        if !force {
            guard isatty(0) == 1 else {
                throw CloudcError(.usage, "found \(found.flatMap(\.lines).count) thing(s) of \(name) with no state to check them against; nothing was deleted",
                                  fix: "to delete them all: cloudc stop \(name) --force")
            }
            context.note("Delete all of these? [y/N] ")
            guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased().trimmingCharacters(in: .whitespaces)) else {
                context.note("Nothing was deleted.")
                return
            }
        }
        for stranded in found {
            let template = (try? config.clusterSpec(template: name)).flatMap { $0.cloud.name == stranded.cloud.name ? $0 : nil }
            let spec = template ?? ClusterSpec(template: "(found by tags)", cloud: stranded.cloud,
                                               login: LoginSpec(name: "-", user: "-", privateKey: "", publicKey: ""), image: "", groups: [])
            try wiring.operations.adopt(stranded, spec: spec)
            let report = try await wiring.operations.stop(name: name, command: "cloudc stop \(name)") {
                wiring.removeInstalledSSHConfig(of: name)
            }
            context.note("Start \(stranded.incarnation) of \(name) on \(stranded.cloud.name) is gone: \(report.terminated.count) instance(s) terminated"
                + (report.deletedResources.isEmpty ? "" : ", deleted " + report.deletedResources.map { "\($0.kind.rawValue) \($0.name)" }.joined(separator: ", ")) + ".")
        }
    }
}

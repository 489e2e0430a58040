import ArgumentParser
import CloudcCore
import Foundation
import Operations

struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare a cluster's state file, what its cloud reports and what SLURM knows; say where they disagree.",
        discussion: """
            Finds nodes the cloud lost, instances and resources the state forgot, instances of an \
            earlier start of the same name, nodes SLURM lists that no longer exist (or misses), host \
            keys pinned for nodes that are gone, and clusters whose state file is gone. --fix repairs \
            what is safe to: forgets what the cloud no longer has (and sets SLURM up again), terminates \
            instances of this start the state forgot, records forgotten resources so `stop` deletes \
            them, unpins stale host keys. Exit status 0: nothing wrong (or all of it fixed); 1: something is.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The cluster (default: every cluster cloudc knows).")
    var name: String?

    @Flag(help: "Repair what is safe to repair.")
    var fix = false

    @Flag(help: "Print JSON for scripts.")
    var json = false

    func run() async throws {
        let wiring = Wiring(global)
        let names = try name.map { [$0] } ?? wiring.store.names()
        var reports: [DoctorReport] = []
        for name in names {
            reports.append(try await report(name, wiring: wiring))
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            wiring.context.print(String(decoding: try encoder.encode(reports), as: UTF8.self))
        } else {
            if reports.isEmpty { wiring.context.print("No clusters to check.") }
            for report in reports { for line in Self.lines(report, fix: fix) { wiring.context.print(line) } }
        }
        if !reports.allSatisfy(\.healthy) { throw ExitCode(1) }
    }

    /// One cluster's report; a cluster without a readable state file is looked for in the clouds.
    func report(_ name: String, wiring: Wiring) async throws -> DoctorReport {
        var unreadable: String?
        do {
            if try wiring.store.load(name) != nil { return try await wiring.operations.doctor(name: name, fix: fix) }
        } catch let error as CloudcError where error.code == .state {
            unreadable = error.message
        }
        let config = try wiring.loadConfig()
        let clouds = (try? config.clusterSpec(template: name)).map { [$0.cloud] }
            ?? config.clouds.keys.sorted().compactMap { config.clouds[$0] }.filter { $0.provider != .ssh }
        var report = DoctorReport(cluster: name, cloud: clouds.map(\.name).joined(separator: ", "))
        report.views["state"] = unreadable ?? "no state file"
        for cloud in clouds {
            do {
                for stranded in try await wiring.operations.findStranded(name: name, cloud: cloud) {
                    report.findings.append(.init(kind: "no-state", subject: "\(cloud.name): start \(stranded.incarnation)",
                                                 detail: "\(cloud.name) holds \(stranded.lines.joined(separator: ", ")) of \(name), which no state file describes",
                                                 fix: nil))
                }
                report.views["cloud \(cloud.name)"] = "searched by tags and names"
            } catch {
                report.views["cloud \(cloud.name)"] = "not searched: \(error)"
            }
        }
        return report
    }

    static func lines(_ report: DoctorReport, fix: Bool) -> [String] {
        var lines = ["\(report.cluster) (\(report.cloud)): " + report.views.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")]
        for finding in report.findings {
            lines.append("  \(finding.fixed ? "fixed" : "✗") \(finding.kind) \(finding.subject): \(finding.detail)"
                         + (finding.fixed ? "" : finding.fix.map { " (--fix: \($0))" } ?? ""))
        }
        let open = report.findings.filter { !$0.fixed }
        if report.findings.isEmpty {
            lines.append("  nothing wrong: the state, the cloud and SLURM agree")
        } else if open.isEmpty {
            lines.append("  all \(report.findings.count) fixed")
        } else if report.findings.contains(where: { $0.kind == "no-state" }) {
            lines.append("  to delete what is left: cloudc stop \(report.cluster)")
        } else if !fix, open.contains(where: { $0.fix != nil }) {
            lines.append("  to repair what is safe to: cloudc doctor \(report.cluster) --fix")
        }
        return lines
    }
}

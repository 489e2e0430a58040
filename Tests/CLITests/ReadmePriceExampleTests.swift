import Foundation
import Testing
import TestSupport

/// The README's price example, pasted into bash against the GCE peer (its Billing Catalog and
/// Compute API): the commands as written, and the plan and price lines it shows, as printed.
@Suite(.serialized, .needsPeer) struct ReadmePriceExampleTests {
    /// The README block from `$ cloudc prices update gce` to the next blank line.
    static func block() throws -> [String] {
        let readme = try String(contentsOfFile: Paths.repoRoot + "/README.md", encoding: .utf8)
        let lines = readme.components(separatedBy: "\n")
        let first = try #require(lines.firstIndex { $0.hasPrefix("$ cloudc prices update gce") }, "no price example in the README")
        return Array(lines[first...].prefix { !$0.isEmpty })
    }

    @Test func theDryRunExamplePrintsWhatTheReadmeShows() async throws {
        try await GCEPeer.with { peer in
            let desk = try Desk()
            _ = try desk.write(".cloudc/config.yaml", """
                clouds:
                  gce:
                    provider: gce
                    project: \(peer.project)
                    zones: [us-central1-a, us-central1-b]
                    credentials: \(peer.credentialsPath)
                    token_endpoint: \(peer.tokenEndpoint)
                    endpoint: \(peer.computeEndpoint)
                logins:
                  default: {user: researcher, private_key: ~/id_ed25519}
                clusters:
                  gce:
                    cloud: gce
                    image: projects/debian-cloud/global/images/family/debian-12
                    ssh_from: 198.51.100.0/24
                    groups:
                      frontend: {count: 1, flavor: e2-standard-4}
                      compute: {count: 4, flavor: n2-standard-8}
                      gpu: {count: 1, flavor: n1-standard-8, gpus: {type: nvidia-tesla-t4, count: 1}, spot: true}
                """)
            let block = try Self.block()
            let commands = block.filter { $0.hasPrefix("$ ") }.map { line in
                String(line.dropFirst(2).split(separator: "#", maxSplits: 1)[0]).trimmingCharacters(in: .whitespaces)
            }
            #expect(commands == ["cloudc prices update gce", "cloudc start gce --dry-run"])
            var printed = ""
            for command in commands {
                let run = try await desk.paste(command)
                #expect(run.status == 0, "\(command): \(run.stderr)")
                printed += run.stdout
            }
            let lines = printed.components(separatedBy: "\n")
            for shown in block where !shown.hasPrefix("$ ") {
                // The date the prices were fetched is today's, not the README's.
                let fixed = shown.components(separatedBy: ", fetched ")[0]
                #expect(lines.contains { $0.components(separatedBy: ", fetched ")[0] == fixed }, "README shows: \(shown)\nprinted:\n\(printed)")
            }
            #expect(try await peer.state().instances.isEmpty)
        }
    }
}

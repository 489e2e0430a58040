import CloudcCore
@testable import Configurator
import Foundation
import Testing
import TestSupport

@Suite struct PlaybookTests {
    @Test func theShippedSlurmPlaybookLoadsAndEveryTemplateItNamesExists() throws {
        let playbook = try Playbook.load(name: "slurm", directory: Paths.repoRoot + "/playbooks")
        #expect(playbook.roles.map(\.name) == ["common", "package-cache", "package-proxy", "munge", "nfs-server", "nfs-client", "gpu-driver",
                                               "slurm-facts", "slurm-controller", "slurm-worker", "slurm-check", "autostop"])
        let store = TemplateStore(directory: Paths.repoRoot + "/templates")
        for role in playbook.roles {
            for file in role.files {
                if case .template(let name) = file.source { _ = try store.template(name) }
            }
        }
        let munge = try #require(playbook.roles.first { $0.name == "munge" })
        #expect(munge.files.first?.source == .secret("munge.key"))
        #expect(munge.files.first?.mode == 0o400)
        #expect(munge.restart == ["munge"])
    }

    @Test func unknownKeysAreReportedWithTheirLine() {
        let text = """
            roles:
              - name: a
                hosts: [all]
                pakages: [x]
            """
        #expect {
            try Playbook.parse(text, name: "p", file: "p.yaml")
        } throws: { error in
            let e = error as? CloudcError
            return e?.message.hasPrefix("p.yaml:4:") == true && e?.message.contains("pakages") == true
                && e?.fix?.contains("packages") == true
        }
    }

    @Test func badModesMissingHostsAndUnmanagedRestartsAreRejected() {
        let cases = [
            "roles:\n  - {name: a, hosts: [all], files: [{template: t, dest: /x, mode: '999'}]}",
            "roles:\n  - {name: a}",
            "roles:\n  - {name: a, hosts: [all], restart: [munge]}",
            "roles:\n  - {name: a, hosts: [all], files: [{template: t, secret: s, dest: /x}]}",
            "roles:\n  - {name: a, hosts: [all], files: [{template: t, dest: relative}]}",
            "roles:\n  - {name: a, hosts: [all]}\n  - {name: a, hosts: [all]}",
        ]
        for text in cases {
            #expect(throws: CloudcError.self, "\(text)") { try Playbook.parse(text, name: "p", file: "p.yaml") }
        }
    }

    @Test func aMissingPlaybookNamesTheOnesThereAre() {
        #expect {
            try Playbook.load(name: "slurmm", directory: Paths.repoRoot + "/playbooks")
        } throws: { error in
            (error as? CloudcError)?.fix?.contains("slurm") == true
        }
    }
}

import CloudcCore
import Configurator
import Foundation
@testable import Operations
import Testing
import TestSupport

/// `setups.NAME.playbook:` as a path to a playbook of the user's own: its templates beside it (in
/// `templates/`), cloudc's found too, and every mistake said, with its file and line, before setup
/// touches a node.
@Suite struct UserPlaybookTests {
    static let playbook = """
        roles:
          - name: motd
            hosts: [all]
            files:
              - {template: motd, dest: /etc/motd}
              - {template: hosts, dest: /etc/hosts}
        """

    @Test func itsTemplatesAreFoundBesideItAndCloudcsToo() throws {
        let world = try OperationsTests.World()
        let mine = try TemporaryDirectory("cloudc-playbook")
        let file = try mine.write("lab.yaml", Self.playbook)
        _ = try mine.write("templates/motd", "Welcome to {{cluster.name}}, node {{node.name}}.\n")
        let (playbook, templates) = try world.operations.loadPlaybook(file, share: Paths.repoRoot)
        #expect(playbook.name == "lab" && playbook.roles.map(\.name) == ["motd"])
        #expect(templates.directories == [mine.path + "/templates", Paths.repoRoot + "/templates"])
        #expect(try templates.template("motd").name == "motd")
        #expect(try templates.template("hosts").name == "hosts", "cloudc's own template, not copied")

        // A user's template of cloudc's name wins.
        _ = try mine.write("templates/hosts", "# mine\n")
        let (_, again) = try world.operations.loadPlaybook(file, share: Paths.repoRoot)
        #expect(try again.template("hosts").render([:]) == "# mine\n")
    }

    @Test func aMissingTemplateIsSaidBeforeAnyNodeIsTouched() throws {
        let world = try OperationsTests.World()
        let mine = try TemporaryDirectory("cloudc-playbook")
        let file = try mine.write("lab.yaml", Self.playbook)
        let error = try #require(throws: CloudcError.self) { _ = try world.operations.loadPlaybook(file, share: Paths.repoRoot) }
        #expect(error.message.hasPrefix("\(file): role 'motd': no template 'motd' in \(mine.path)/templates or \(Paths.repoRoot)/templates"),
                "\(error.message)")
        #expect(world.cloud.log.isEmpty)
    }

    @Test func aMistakeNamesTheFileLineAndKey() throws {
        let world = try OperationsTests.World()
        let mine = try TemporaryDirectory("cloudc-playbook")
        let file = try mine.write("lab.yaml", Self.playbook.replacingOccurrences(of: "    hosts: [all]", with: "    hosts: [all]\n    packges: [htop]"))
        let error = try #require(throws: CloudcError.self) { _ = try world.operations.loadPlaybook(file, share: Paths.repoRoot) }
        #expect(error.message == "\(file):4:5: unknown key 'packges' in a role", "\(error.message)")
        #expect(error.fix?.contains("packages") == true)
    }
}

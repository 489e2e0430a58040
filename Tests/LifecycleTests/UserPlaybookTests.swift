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

    /// The README's example, as written there, loads with the template its comment gives.
    @Test func theReadmeExampleLoads() throws {
        let readme = try String(contentsOfFile: Paths.repoRoot + "/README.md", encoding: .utf8)
        let start = try #require(readme.range(of: "```yaml\nroles:\n  - name: tools\n"))
        let end = try #require(readme.range(of: "```", range: start.upperBound..<readme.endIndex))
        let text = String(readme[readme.index(start.lowerBound, offsetBy: 8)..<end.lowerBound])
        let motd = try #require(text.components(separatedBy: "# ~/lab/templates/motd: ").last?.split(separator: "\n").first)
        let world = try OperationsTests.World()
        let mine = try TemporaryDirectory("cloudc-playbook")
        let file = try mine.write("lab.yaml", text)
        _ = try mine.write("templates/motd", String(motd) + "\n")
        let (playbook, templates) = try world.operations.loadPlaybook(file, share: Paths.repoRoot)
        #expect(playbook.roles.first?.packages == ["htop", "rsync"])
        let rendered = try templates.template("motd").render([
            "cluster": .map(["name": .text("lab")]), "node": .map(["name": .text("compute001")])])
        #expect(rendered == "Welcome to lab, node compute001.\n")
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

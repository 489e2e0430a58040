import CloudcCore
@testable import Export
import Foundation
import Testing
import TestSupport

@Suite struct SSHConfigIncludeTests {
    let line = "Include ~/.ssh/cloudc-lab.config"

    @Test func theLineGoesOnTopOnce() {
        #expect(SSHConfigInclude.line(cluster: "lab") == line)
        #expect(SSHConfigInclude.adding(line, to: "") == line + "\n")
        let config = "Host *\n    ServerAliveInterval 30\n"
        let added = SSHConfigInclude.adding(line, to: config)
        #expect(added == line + "\n" + config)
        #expect(SSHConfigInclude.adding(line, to: added ?? "") == nil)
        // Already there, anywhere: left alone.
        #expect(SSHConfigInclude.adding(line, to: "Host a\n\(line)\n") == nil)
        // Another cluster's line is not this one.
        #expect(SSHConfigInclude.adding(line, to: "Include ~/.ssh/cloudc-lab2.config\n") != nil)
    }

    @Test(arguments: ["", "Host *\n    User me\n", "Host a\n  HostName b", "\n\n# only comments\r\n# crlf\r\n", "Include ~/.ssh/other\n"])
    func removingGivesBackTheFileByteForByte(original: String) throws {
        let added = try #require(SSHConfigInclude.adding(line, to: original))
        #expect(SSHConfigInclude.removing(line, from: added) == original)
        #expect(SSHConfigInclude.removing(line, from: original) == nil)
    }

    @Test func onlyTheExactLineIsRemoved() {
        let config = "# \(line)\n  \(line)\n\(line)\nInclude ~/.ssh/cloudc-lab2.config\n"
        #expect(SSHConfigInclude.removing(line, from: config) == "# \(line)\n  \(line)\nInclude ~/.ssh/cloudc-lab2.config\n")
    }
}

@Suite struct SSHConfigInstallationTests {
    func mode(_ path: String) -> mode_t {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & 0o7777 : 0
    }

    @Test func installIsIdempotentAndUninstallRestoresTheConfig() throws {
        let home = try TemporaryDirectory("cloudc-home")
        let original = "# mine\nHost *\n    ServerAliveInterval 30\n"
        let config = try home.write(".ssh/config", original)
        #expect(chmod(config, 0o640) == 0)
        let installation = SSHConfigInstallation(home: home.path)
        let first = try installation.install(cluster: "lab", hosts: "Host lab\n    HostName 10.0.0.2\n")
        #expect(first == .init(configChanged: true, hostsFileChanged: true))
        let installed = try String(contentsOfFile: config, encoding: .utf8)
        #expect(installed == "Include ~/.ssh/cloudc-lab.config\n" + original)
        #expect(mode(config) == 0o640, "the config keeps its permissions")
        #expect(mode(home.path + "/.ssh/cloudc-lab.config") == 0o600)
        #expect(installation.isInstalled(cluster: "lab"))

        let again = try installation.install(cluster: "lab", hosts: "Host lab\n    HostName 10.0.0.2\n")
        #expect(again == .init(configChanged: false, hostsFileChanged: false))
        #expect(try String(contentsOfFile: config, encoding: .utf8) == installed)

        // A second cluster: its own line, on top.
        try installation.install(cluster: "lab2", hosts: "Host lab2\n")
        #expect(try String(contentsOfFile: config, encoding: .utf8)
            == "Include ~/.ssh/cloudc-lab2.config\nInclude ~/.ssh/cloudc-lab.config\n" + original)

        // A resize refreshes the hosts of an installed cluster only.
        #expect(try installation.refresh(cluster: "lab", hosts: "Host lab\n    HostName 10.0.0.9\n"))
        #expect(try String(contentsOfFile: home.path + "/.ssh/cloudc-lab.config", encoding: .utf8) == "Host lab\n    HostName 10.0.0.9\n")
        #expect(try !installation.refresh(cluster: "lab3", hosts: "Host lab3\n"))
        #expect(!FileManager.default.fileExists(atPath: home.path + "/.ssh/cloudc-lab3.config"))

        #expect(try installation.uninstall(cluster: "lab") == .init(configChanged: true, hostsFileChanged: true))
        #expect(try installation.uninstall(cluster: "lab2") == .init(configChanged: true, hostsFileChanged: true))
        #expect(try String(contentsOfFile: config, encoding: .utf8) == original)
        #expect(!FileManager.default.fileExists(atPath: home.path + "/.ssh/cloudc-lab.config"))
        // Gone already: nothing to do, no error.
        #expect(try installation.uninstall(cluster: "lab") == .init(configChanged: false, hostsFileChanged: false))
    }

    @Test func aMissingSSHFolderAndConfigAreMade() throws {
        let home = try TemporaryDirectory("cloudc-home")
        let installation = SSHConfigInstallation(home: home.path)
        #expect(try installation.uninstall(cluster: "lab") == .init(configChanged: false, hostsFileChanged: false))
        try installation.install(cluster: "lab", hosts: "Host lab\n")
        #expect(mode(home.path + "/.ssh") == 0o700)
        #expect(mode(home.path + "/.ssh/config") == 0o600)
        #expect(try String(contentsOfFile: home.path + "/.ssh/config", encoding: .utf8) == "Include ~/.ssh/cloudc-lab.config\n")
    }

    /// A config kept in a dotfiles checkout and linked into ~/.ssh stays a link; its target is edited.
    @Test func aLinkedConfigIsEditedWhereItPoints() throws {
        let home = try TemporaryDirectory("cloudc-home")
        let target = try home.write("dotfiles/ssh_config", "Host a\n")
        try FileManager.default.createDirectory(atPath: home.path + "/.ssh", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: home.path + "/.ssh/config", withDestinationPath: "../dotfiles/ssh_config")
        let installation = SSHConfigInstallation(home: home.path)
        try installation.install(cluster: "lab", hosts: "Host lab\n")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: home.path + "/.ssh/config") == "../dotfiles/ssh_config")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "Include ~/.ssh/cloudc-lab.config\nHost a\n")
        try installation.uninstall(cluster: "lab")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "Host a\n")
    }

    /// Why the top: OpenSSH takes the first value it finds for an option, and reads an Include
    /// where it stands. `ssh -G` shows what it makes of a config with the line on top and the
    /// user's own `Host *` defaults after it. (The Include names the file by its full path here:
    /// OpenSSH takes `~` from the password database, not from this test's home.)
    @Test func sshAppliesTheIncludedHostsBeforeTheUsersDefaults() throws {
        let home = try TemporaryDirectory("cloudc-home")
        let installation = SSHConfigInstallation(home: home.path)
        _ = try home.write(".ssh/config", "Host *\n    User someone-else\n    ServerAliveInterval 30\n")
        try installation.install(cluster: "lab", hosts: SSHConfigFormat.render(Fixtures.handoff(publicAddresses: false)))
        let text = try String(contentsOfFile: installation.configPath, encoding: .utf8)
        let resolved = try home.write("resolved-config",
            text.replacingOccurrences(of: "Include ~/.ssh/", with: "Include \(home.path)/.ssh/"))
        let compute = try sshOptions(resolved, "lab-compute001")
        #expect(compute["user"] == "debian")
        #expect(compute["proxyjump"] == "lab-frontend001")
        #expect(compute["serveraliveinterval"] == "30", "the user's own defaults still apply")
        #expect(try sshOptions(resolved, "elsewhere")["user"] == "someone-else", "and hosts of their own are untouched")
    }
}

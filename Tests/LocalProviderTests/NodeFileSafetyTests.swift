import CloudcCore
import Foundation
@testable import Providers
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// cloudc runs the local provider as root and writes into folders a node or its login user
/// controls: the shared home and each node's writable root. A link planted there must not make
/// root write, copy or chown anything on the host. Needs root (as in CI).
@Suite(.needsRoot) struct NodeFileSafetyTests {
    static let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBx7 me@laptop"

    /// A stand-in for /etc/shadow: root's, 0600.
    func victim(_ folder: TemporaryDirectory) throws -> String {
        let path = try folder.write("host/shadow", "root:$6$secret:19000::::::\n")
        chmod(path, 0o600)
        return path
    }

    func owner(_ path: String) -> uid_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_uid : .max
    }

    /// The reported attack: `ln -sf /etc/shadow ~/.ssh/authorized_keys` by a job, then `resize +1`.
    @Test func aLinkedAuthorizedKeysIsNeitherCopiedNorChowned() throws {
        try #require(geteuid() == 0, "needs root, as in CI")
        let folder = try TemporaryDirectory("cloudc-safety")
        let shadow = try victim(folder)
        let home = folder.path + "/cluster/home"
        try FileManager.default.createDirectory(atPath: home + "/debian/.ssh", withIntermediateDirectories: true)
        chown(home + "/debian", 1000, 1000); chown(home + "/debian/.ssh", 1000, 1000)
        try FileManager.default.createSymbolicLink(atPath: home + "/debian/.ssh/authorized_keys", withDestinationPath: shadow)

        #expect(throws: CloudcError.self) { try LoginAccount.addKey(Self.key, home: ["debian"], under: home, uid: 1000, gid: 1000) }
        #expect(try String(contentsOfFile: shadow, encoding: .utf8) == "root:$6$secret:19000::::::\n")
        #expect(owner(shadow) == 0)
        // And nothing of the shadow file reached the user's home.
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: home + "/debian/.ssh/authorized_keys")) == shadow)
    }

    /// A link on `.ssh` itself would have made root chown any host folder to the user.
    @Test func aLinkedSSHFolderIsNotChowned() throws {
        try #require(geteuid() == 0, "needs root, as in CI")
        let folder = try TemporaryDirectory("cloudc-safety")
        let hostFolder = folder.path + "/host/etc"
        try FileManager.default.createDirectory(atPath: hostFolder, withIntermediateDirectories: true)
        let home = folder.path + "/cluster/home"
        try FileManager.default.createDirectory(atPath: home + "/debian", withIntermediateDirectories: true)
        chown(home + "/debian", 1000, 1000)
        try FileManager.default.createSymbolicLink(atPath: home + "/debian/.ssh", withDestinationPath: hostFolder)

        #expect(throws: CloudcError.self) { try LoginAccount.addKey(Self.key, home: ["debian"], under: home, uid: 1000, gid: 1000) }
        #expect(owner(hostFolder) == 0)
        #expect(!FileManager.default.fileExists(atPath: hostFolder + "/authorized_keys"))
    }

    /// A fresh home gets the key, owned by the user, 0600 in a 0700 folder.
    @Test func aPlainHomeGetsTheKeyOnce() throws {
        try #require(geteuid() == 0, "needs root, as in CI")
        let folder = try TemporaryDirectory("cloudc-safety")
        let home = folder.path + "/home"
        try FileManager.default.createDirectory(atPath: home + "/debian", withIntermediateDirectories: true)
        for _ in 0..<2 { try LoginAccount.addKey(Self.key, home: ["debian"], under: home, uid: 1000, gid: 1000) }
        #expect(try String(contentsOfFile: home + "/debian/.ssh/authorized_keys", encoding: .utf8) == Self.key + "\n")
        #expect(owner(home + "/debian/.ssh/authorized_keys") == 1000 && owner(home + "/debian/.ssh") == 1000)
        var info = stat()
        #expect(stat(home + "/debian/.ssh/authorized_keys", &info) == 0 && info.st_mode & 0o777 == 0o600)
    }

    /// A node's root planted with links where cloudc writes its identity and sudoers.
    @Test func nodeBootWritesNoFileThroughALinkTheNodePlanted() async throws {
        try #require(geteuid() == 0, "needs root, as in CI")
        let folder = try TemporaryDirectory("cloudc-safety")
        let shadow = try victim(folder)
        let hostSudoers = folder.path + "/host/sudoers.d"
        try FileManager.default.createDirectory(atPath: hostSudoers, withIntermediateDirectories: true)
        let root = folder.path + "/node/root"
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/etc/hostname", withDestinationPath: shadow)
        try FileManager.default.createSymbolicLink(atPath: root + "/etc/sudoers.d", withDestinationPath: hostSudoers)

        let boot = NodeBoot(commands: ProcessHostCommands(), imagePath: "/nonexistent", home: folder.path + "/home",
                            login: LoginAccount(user: "debian", uid: 1000, gid: 1000, inImage: true, homeInNode: "/home/debian"),
                            publicKey: Self.key, subnet: try #require(IPv4Network(cidr: "10.77.9.0/24")), timeout: 1)
        let metadata = NodeMetadata(id: "cc0123456789", cluster: "lab", incarnation: "i", group: "compute", node: "compute001",
                                    launchToken: "t", address: "10.77.9.10/24", bridge: "cc-x", image: "debian-12",
                                    phase: .preparing, createdAt: Date())
        try boot.writeIdentity(root, metadata)
        #expect(try String(contentsOfFile: shadow, encoding: .utf8) == "root:$6$secret:19000::::::\n")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: root + "/etc/hostname")) == nil, "the link was replaced by a file")
        #expect(try String(contentsOfFile: root + "/etc/hostname", encoding: .utf8) == "compute001\n")

        try FileManager.default.createDirectory(atPath: root + "/home/debian", withIntermediateDirectories: true)
        await #expect(throws: CloudcError.self) { try await boot.login.install(in: root, publicKey: Self.key, commands: ProcessHostCommands()) }
        #expect(FileManager.default.fileExists(atPath: root + "/home/debian/.ssh/authorized_keys"), "install got as far as sudoers")
        #expect(HostView.entries(hostSudoers).isEmpty, "sudoers written through the link: \(HostView.entries(hostSudoers))")
    }

    /// A dangling link where ssh-keygen -A (the host's, run as root) would write a missing host
    /// key: the key would land wherever the link points. It is removed first.
    @Test func hostKeysAreNotWrittenThroughAPlantedLink() async throws {
        try #require(geteuid() == 0, "needs root, as in CI")
        let folder = try TemporaryDirectory("cloudc-safety")
        let outside = folder.path + "/host/cron.d/evil"
        try FileManager.default.createDirectory(atPath: folder.path + "/host/cron.d", withIntermediateDirectories: true)
        let root = folder.path + "/node/root"
        try FileManager.default.createDirectory(atPath: root + "/etc/ssh", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/etc/ssh/ssh_host_ed25519_key", withDestinationPath: outside)

        try SafeFiles.clearLinks(["ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"], in: ["etc", "ssh"], under: root)
        let run = try await Run.programOffPool("/usr/bin/ssh-keygen", ["-A", "-f", root])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: outside), "a host key was written through the link")
        #expect(try NodeBoot.hostKeys(in: root).contains { $0.hasPrefix("ssh-ed25519 ") })

        // An /etc/ssh that is itself a link is refused outright.
        let other = folder.path + "/node2/root"
        try FileManager.default.createDirectory(atPath: other + "/etc", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: other + "/etc/ssh", withDestinationPath: folder.path + "/host")
        #expect(throws: CloudcError.self) { try SafeFiles.clearLinks(["ssh_host_ed25519_key"], in: ["etc", "ssh"], under: other) }
    }
}

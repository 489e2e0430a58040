import CloudcCore
import Foundation
import Providers
import Testing
import TestSupport

/// The node image: built once, under a lock, renamed into place only when complete.
@Suite(.needsRoot) struct LocalImageTests {
    /// A debootstrap stand-in that makes a tiny root with the files the real one leaves behind.
    static func fakeDebootstrap(fail: Bool = false) -> FakeHostCommands {
        FakeHostCommands { line in
            if line.first == "rm", let path = line.last {
                try? FileManager.default.removeItem(atPath: path)
                return CommandResult(status: 0)
            }
            guard line.first == "debootstrap", let target = line.dropLast().last else { return nil }
            try? await Task.sleep(nanoseconds: 200_000_000)
            for folder in ["etc/ssh", "etc/munge", "etc/skel", "debootstrap"] {
                try? FileManager.default.createDirectory(atPath: target + "/" + folder, withIntermediateDirectories: true)
            }
            for (file, text) in [("etc/os-release", "ID=debian\n"), ("etc/ssh/ssh_host_ed25519_key", "secret"),
                                 ("etc/ssh/ssh_host_ed25519_key.pub", "public"), ("etc/ssh/sshd_config", "# config"),
                                 ("etc/munge/munge.key", "secret"), ("etc/machine-id", "0123456789abcdef0123456789abcdef\n"),
                                 ("debootstrap/debootstrap.log", "E: Couldn't download packages\n")] {
                _ = FileManager.default.createFile(atPath: target + "/" + file, contents: Data(text.utf8))
            }
            return fail ? CommandResult(status: 1, stderr: "W: Failure trying to run: chroot") : CommandResult(status: 0)
        }
    }

    @Test func twoCallersBuildOnceAndPerNodeIdentityIsRemoved() async throws {
        let dir = try TemporaryDirectory("cloudc-images")
        let image = try LocalImage(name: "debian-12", imageDir: dir.path, mirror: "http://mirror.example.org/debian")
        let commands = Self.fakeDebootstrap()
        let progress = CapturedProgress()
        async let first = image.ensure(commands: commands, progress: progress)
        async let second = image.ensure(commands: commands, progress: progress)
        let paths = try await [first, second]
        #expect(paths == [dir.path + "/debian-12", dir.path + "/debian-12"])
        let debootstraps = commands.commands.filter { $0.first == "debootstrap" }
        #expect(debootstraps.count == 1)
        let staging = dir.path + "/.debian-12.building-\(getpid())"
        #expect(debootstraps.first?.suffix(3) == ["bookworm", staging, "http://mirror.example.org/debian"] as ArraySlice)
        #expect(debootstraps.first?.contains { $0.hasPrefix("--include=") && $0.contains("openssh-server") && $0.contains("slurm-wlm") } == true)
        #expect(commands.commands.contains(["chroot", staging, "systemctl", "enable", "systemd-networkd"]))
        #expect(progress.lines.text.contains("Building the local node image debian-12 with debootstrap (about 2 minutes, once)"))

        let etc = dir.path + "/debian-12/etc"
        #expect(try FileManager.default.contentsOfDirectory(atPath: etc + "/ssh") == ["sshd_config"])
        #expect(!FileManager.default.fileExists(atPath: etc + "/munge/munge.key"))
        #expect(FileManager.default.contents(atPath: etc + "/machine-id") == Data())
        #expect(HostView.entries(dir.path).sorted() == [".debian-12.lock", "debian-12"], "no build folder is left")

        // Built: a third caller runs nothing.
        let again = FakeHostCommands()
        try await image.ensure(commands: again, progress: progress)
        #expect(again.commands.isEmpty)
    }

    @Test func aFailedBuildLeavesNoImageAndSaysWhy() async throws {
        let dir = try TemporaryDirectory("cloudc-images")
        let image = try LocalImage(name: "debian-12", imageDir: dir.path, mirror: "http://mirror.example.org/debian")
        let error = try #require(await #expect(throws: CloudcError.self) {
            try await image.ensure(commands: Self.fakeDebootstrap(fail: true), progress: SilentProgress())
        })
        #expect(error.message == "debootstrap could not build the local node image debian-12 from http://mirror.example.org/debian")
        #expect(error.cause?.contains("Couldn't download packages") == true)
        #expect(!image.isBuilt)
        #expect(!HostView.entries(dir.path).contains { $0.hasPrefix(".debian-12.building") || $0 == "debian-12" })
    }

    @Test func debian12IsMadeWithSLURMAndAsACloudsStockImageWithout() throws {
        #expect(LocalImage.supportedNames == ["debian-12", "debian-12-stock"])
        let ready = try #require(LocalImage.recipes["debian-12"]).packages
        let stock = try #require(LocalImage.recipes["debian-12-stock"]).packages
        #expect(ready.contains("slurm-wlm") && ready.contains("munge"))
        #expect(stock.allSatisfy { !$0.hasPrefix("slurm") && $0 != "munge" && !$0.hasPrefix("nfs") }, "\(stock)")
        #expect(["openssh-server", "sudo", "systemd", "ca-certificates"].allSatisfy(stock.contains))
        #expect(throws: CloudcError.self) { try LocalImage(name: "centos-7", imageDir: "/x", mirror: "http://m") }
    }
}

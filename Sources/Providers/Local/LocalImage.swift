import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The root file system every node's overlay sits on: built once per machine with
/// debootstrap into `<image_dir>/<name>`, shared read-only by all nodes of all clusters.
///
/// It is built under a file lock (two cloudc processes never build it at once) into a
/// temporary folder that is renamed into place only when complete, so a half-built image
/// is never used. Per-node identity (SSH host keys, machine-id, munge key) is removed from
/// it: every node gets its own.
public struct LocalImage: Sendable, Equatable {
    /// How to make one supported image.
    public struct Recipe: Sendable, Equatable {
        public var suite: String
        public var packages: [String]
    }

    public static let recipes: [String: Recipe] = [
        "debian-12": Recipe(suite: "bookworm", packages: [
            "systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2", "slurm-wlm", "munge",
            "sudo", "procps", "ca-certificates", "passwd",
        ]),
        // What a cloud's stock Debian 12 image has: no SLURM, no munge, everything setup needs
        // still to install.
        "debian-12-stock": Recipe(suite: "bookworm", packages: [
            "systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2", "sudo", "procps", "ca-certificates", "passwd",
        ]),
    ]

    public static var supportedNames: [String] { recipes.keys.sorted() }

    public let name: String
    public let recipe: Recipe
    /// The folder holding every image (`image_dir`).
    public let imageDir: String
    public let mirror: String

    /// Fails with a clear error for an image name the local provider cannot build.
    public init(name: String, imageDir: String, mirror: String) throws {
        guard let recipe = Self.recipes[name] else {
            throw CloudcError(.config, "the local provider cannot make image '\(name)'; it supports: \(Self.supportedNames.joined(separator: ", "))",
                              fix: "set image: \(Self.supportedNames[0]) in the cluster template (or leave image: out)")
        }
        self.name = name; self.recipe = recipe; self.imageDir = imageDir; self.mirror = mirror
    }

    /// The finished image.
    public var path: String { imageDir + "/" + name }
    var lockPath: String { imageDir + "/.\(name).lock" }
    var buildPrefix: String { ".\(name).building-" }

    public var isBuilt: Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path + "/etc/os-release", isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    /// Builds the image unless it is there; returns its path.
    @discardableResult
    public func ensure(commands: any HostCommands, progress: any ProgressSink) async throws -> String {
        if isBuilt { return path }
        let name = self.name
        return try await withFileLock(lockPath, onWait: {
            progress.report("Waiting for another cloudc that is building the local node image \(name)")
        }) {
            if isBuilt { return path }
            try await build(commands: commands, progress: progress)
            return path
        }
    }

    /// Called holding the lock: any earlier build folder is a leftover of a build that died.
    func build(commands: any HostCommands, progress: any ProgressSink) async throws {
        let files = FileManager.default
        for leftover in (try? files.contentsOfDirectory(atPath: imageDir)) ?? [] where leftover.hasPrefix(buildPrefix) {
            try await commands.run("rm", ["-rf", "--one-file-system", imageDir + "/" + leftover])
        }
        let staging = imageDir + "/" + buildPrefix + String(getpid())
        progress.report("Building the local node image \(name) with debootstrap (about 2 minutes, once)")
        let started = Date()
        let result = try await commands.execute("debootstrap", [
            "--variant=minbase", "--include=" + recipe.packages.joined(separator: ","),
            recipe.suite, staging, mirror,
        ])
        guard result.status == 0 else {
            let log = (try? String(contentsOfFile: staging + "/debootstrap/debootstrap.log", encoding: .utf8)) ?? ""
            _ = try? await commands.execute("rm", ["-rf", "--one-file-system", staging])
            throw CloudcError(.unavailable, "debootstrap could not build the local node image \(name) from \(mirror)",
                              fix: "check that \(mirror) is reachable from this machine (or set mirror: in the local cloud's config), then run the command again",
                              cause: CommandResultText.lastLines(result.stderr + "\n" + log))
        }
        do {
            try await finish(staging, commands: commands)
        } catch {
            _ = try? await commands.execute("rm", ["-rf", "--one-file-system", staging])
            throw error
        }
        guard rename(staging, path) == 0 else {
            let reason = String(cString: strerror(errno))
            _ = try? await commands.execute("rm", ["-rf", "--one-file-system", staging])
            throw CloudcError(.io, "cannot move the built image into \(path)", cause: reason)
        }
        progress.report("Built the local node image \(name) in \(Int(Date().timeIntervalSince(started))) s: \(path)")
    }

    /// Node-independent setup; then removes what must differ between nodes.
    func finish(_ root: String, commands: any HostCommands) async throws {
        try await commands.run("chroot", [root, "systemctl", "enable", "systemd-networkd"])
        let files = FileManager.default
        let etc = root + "/etc"
        for file in (try? files.contentsOfDirectory(atPath: etc + "/ssh")) ?? [] where file.hasPrefix("ssh_host_") {
            try files.removeItem(atPath: etc + "/ssh/" + file)
        }
        if files.fileExists(atPath: etc + "/munge/munge.key") { try files.removeItem(atPath: etc + "/munge/munge.key") }
        try Data().write(to: URL(fileURLWithPath: etc + "/machine-id"))
        // D-Bus keeps its own copy on some images; it must follow the node's.
        let dbusID = root + "/var/lib/dbus/machine-id"
        if let attributes = try? files.attributesOfItem(atPath: dbusID), attributes[.type] as? FileAttributeType != .typeSymbolicLink {
            try files.removeItem(atPath: dbusID)
        }
        // Downloaded packages are not needed once installed.
        for file in (try? files.contentsOfDirectory(atPath: root + "/var/cache/apt/archives")) ?? [] where file.hasSuffix(".deb") {
            try? files.removeItem(atPath: root + "/var/cache/apt/archives/" + file)
        }
        try "\(name) built by cloudc on \(ISO8601DateFormatter().string(from: Date())) from \(mirror)\n"
            .write(toFile: etc + "/cloudc-image", atomically: true, encoding: .utf8)
    }
}

/// Text helpers shared by the local provider's error messages.
enum CommandResultText {
    /// The end of a program's error output: enough to see why, not a screenful.
    static func lastLines(_ text: String, count: Int = 6) -> String {
        text.split(separator: "\n").suffix(count).joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

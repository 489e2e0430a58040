import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Gives one node its identity and boots it. Every step can be repeated: a launch cut short
/// is finished by running it again.
struct NodeBoot: Sendable {
    let commands: any HostCommands
    let imagePath: String
    /// The cluster's home folder, bind-mounted as /home.
    let home: String
    let login: LoginAccount
    let publicKey: String
    let subnet: IPv4Network
    let timeout: Double
    /// The port of the apt cache the nodes fetch packages through, on this machine; nil: none.
    var packageCachePort: Int? = nil

    /// Runs the node's systemd-nspawn unless it runs already; returns the metadata as booted.
    func start(_ files: NodeFiles, _ metadata: NodeMetadata) async throws -> NodeMetadata {
        var booted = metadata
        booted.phase = .booted
        booted.hostKeys = metadata.hostKeys ?? (try? Self.hostKeys(in: files.root)).flatMap { $0.isEmpty ? nil : $0 }
        if files.runningPID() != nil {
            if metadata.phase != .booted { try files.writeMetadata(booted) }
            return booted
        }
        for path in [imagePath, files.directory, home] where path.contains(",") || path.contains(":") {
            throw CloudcError(.config, "the local provider cannot use the folder '\(path)': overlay and bind mounts take no ',' or ':' in paths",
                              fix: "choose root: and image_dir: of the local cloud without ',' and ':'")
        }
        if !ProcessTable.isMountPoint(files.root) {
            for folder in [files.upper, files.work, files.root] {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }
            try await commands.run("mount", ["-t", "overlay", "overlay",
                                             "-o", "lowerdir=\(imagePath),upperdir=\(files.upper),workdir=\(files.work)", files.root])
        }
        try writeIdentity(files.root, metadata)
        // The host's ssh-keygen (never a binary from the node's root, which the node can replace),
        // on an /etc/ssh reached without links and holding no link where it writes keys. The node
        // is not running here, so nothing changes them in between.
        try SafeFiles.clearLinks(["rsa", "ecdsa", "ed25519", "dsa"].flatMap { ["ssh_host_\($0)_key", "ssh_host_\($0)_key.pub"] },
                                 in: ["etc", "ssh"], under: files.root)
        try await commands.run("ssh-keygen", ["-A", "-f", files.root])
        // Recorded before the node boots: what cloudc pins, so no first contact is trusted blindly.
        booted.hostKeys = try Self.hostKeys(in: files.root)
        try await login.install(in: files.root, publicKey: publicKey, commands: commands)

        unlink(files.pidPath)
        let cgroups = NodeCgroup.hierarchies().map { $0 + "/" + NodeCgroup.relativePath(metadata.id) }
        try await commands.run("setsid", ["-f", "bash", "-c", Self.daemonScript, "bash", files.pidPath, files.logPath,
                                          String(cgroups.count)] + cgroups + ["systemd-nspawn", "--boot", "--directory=\(files.root)",
                                          "--machine=\(metadata.id)", "--hostname=\(metadata.node)",
                                          "--network-bridge=\(metadata.bridge)", "--bind=\(home):/home",
                                          "--register=no", "--keep-unit", "--console=passive"])
        try await waitUntilAttached(files, metadata)
        try files.writeMetadata(booted)
        return booted
    }

    /// The public host keys ssh-keygen -A made in a node's root (`type base64` each).
    static func hostKeys(in root: String) throws -> [String] {
        try ["ssh_host_ed25519_key.pub", "ssh_host_ecdsa_key.pub", "ssh_host_rsa_key.pub"].compactMap { name in
            guard let data = try SafeFiles.read(["etc", "ssh", name], under: root) else { return nil }
            let fields = String(decoding: data, as: UTF8.self).split(whereSeparator: { $0 == " " || $0.isNewline })
            guard fields.count >= 2, fields[0].hasPrefix("ssh-") || fields[0].hasPrefix("ecdsa-"),
                  Data(base64Encoded: String(fields[1])) != nil else { return nil }
            return "\(fields[0]) \(fields[1])"
        }
    }

    /// Runs a command as a daemon: writes its pid to `$1`, its output to `$2`, closes every other
    /// inherited descriptor, moves into the `$3` cgroups that follow (the node's own, see
    /// `NodeCgroup`), then runs the rest. Foundation.Process learns that a child exited from the
    /// end of a socket the child inherits; a daemon that kept it would hold `setsid` unreaped
    /// forever. (bash, not sh: dash cannot close descriptors above 9.)
    static let daemonScript = """
        echo $$ > "$1"; log=$2; n=$3; shift 3
        for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
        while [ "$n" -gt 0 ]; do
          { mkdir -p "$1" && echo $$ > "$1/cgroup.procs"; } 2>"$log" || { echo "cannot give the node its own cgroup $1" >>"$log"; exit 1; }
          shift; n=$((n - 1))
        done
        exec "$@" > "$log" 2>&1 < /dev/null
        """

    /// Waits until systemd-nspawn has put the node's veth on the bridge; fails with its log if it exits.
    func waitUntilAttached(_ files: NodeFiles, _ metadata: NodeMetadata) async throws {
        let veth = "/sys/class/net/vb-\(metadata.id)"
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if files.runningPID() != nil, FileManager.default.fileExists(atPath: veth) { return }
            if let text = try? String(contentsOfFile: files.pidPath, encoding: .utf8),
               let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), !ProcessTable.isAlive(pid) {
                break
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let log = (try? String(contentsOfFile: files.logPath, encoding: .utf8)) ?? ""
        throw CloudcError(.unavailable, "node \(metadata.node) (\(metadata.id)) did not start: systemd-nspawn \(files.runningPID() == nil ? "exited" : "did not attach it to bridge \(metadata.bridge) within \(Int(timeout)) s")",
                          fix: "see \(files.logPath), then run the command again (it resumes)",
                          cause: CommandResultText.lastLines(log))
    }

    /// Hostname, hosts, a static address for the bridge's veth, and a machine-id of its own.
    /// Written as root into the node's writable root, where the node may have planted links:
    /// nothing is written through one (`SafeFiles`).
    func writeIdentity(_ root: String, _ metadata: NodeMetadata) throws {
        try Self.write(metadata.node + "\n", to: ["etc", "hostname"], in: root)
        try Self.write("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\(metadata.ip)\t\(metadata.node)\n",
                       to: ["etc", "hosts"], in: root)
        // host0 is systemd-nspawn's name for the container's end of --network-bridge's veth.
        try Self.write("""
            # Written by cloudc: this node's address on the cluster's bridge \(metadata.bridge).
            [Match]
            Name=host0

            [Network]
            Address=\(metadata.address)
            LinkLocalAddressing=no
            IPv6AcceptRA=no

            """, to: ["etc", "systemd", "network", "80-cloudc.network"], in: root)
        // Like a cloud image's mirror setting: the nodes have no route out, the cache on this
        // machine fetches for them.
        let cacheConfig = ["etc", "apt", "apt.conf.d", "00cloudc-package-cache"]
        if let port = packageCachePort, let gateway = subnet.host(1) {
            try Self.write("// Written by cloudc: packages come through the apt cache on the host of this node's bridge.\n"
                           + "Acquire::http::Proxy \"http://\(IPv4Network.format(gateway)):\(port)/\";\n",
                           to: cacheConfig, in: root)
        } else {
            try SafeFiles.remove(cacheConfig, under: root)
        }
        let current = (try SafeFiles.read(["etc", "machine-id"], under: root)).map { String(decoding: $0, as: UTF8.self) }?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if current.isEmpty {
            try Self.write(Hex.random(bytes: 16) + "\n", to: ["etc", "machine-id"], in: root, mode: 0o444)
        }
    }

    static func write(_ text: String, to path: [String], in root: String, mode: mode_t = 0o644) throws {
        try SafeFiles.write(Data(text.utf8), to: path, under: root, mode: mode)
    }
}

/// The account users log into nodes with: root, or a user made on every node with the same
/// uid, passwordless sudo, and its home in the cluster's shared /home.
struct LoginAccount: Sendable, Equatable {
    let user: String
    let uid: UInt32
    let gid: UInt32
    /// The image already has this user (root, or a system account).
    let inImage: Bool
    /// Its home directory as nodes see it.
    let homeInNode: String

    init(user: String, uid: UInt32, gid: UInt32, inImage: Bool, homeInNode: String) {
        self.user = user; self.uid = uid; self.gid = gid; self.inImage = inImage; self.homeInNode = homeInNode
    }

    /// Looks the user up in the image; a user it lacks gets the lowest uid ≥ 1000 free there
    /// (the same on every node, since all nodes share the image).
    init(user: String, imageRoot: String) throws {
        let valid = !user.isEmpty && user.count <= 32 && user.unicodeScalars.enumerated().allSatisfy { index, c in
            ("a"..."z").contains(c) || c == "_" || (index > 0 && (("0"..."9").contains(c) || c == "-"))
        }
        guard valid else {
            throw CloudcError(.config, "login user '\(user)' is not a valid user name for local nodes",
                              fix: "use lowercase letters, digits, '-' and '_', starting with a letter (e.g. user: debian)")
        }
        self.user = user
        let passwd = Self.entries(imageRoot + "/etc/passwd")
        if let entry = passwd.first(where: { $0.first == user }), entry.count >= 6,
           let uid = UInt32(entry[2]), let gid = UInt32(entry[3]) {
            self.uid = uid; self.gid = gid; self.inImage = true; self.homeInNode = entry[5]
            return
        }
        let taken = Set(passwd.compactMap { $0.count > 2 ? UInt32($0[2]) : nil })
            .union(Self.entries(imageRoot + "/etc/group").compactMap { $0.count > 2 ? UInt32($0[2]) : nil })
        var id: UInt32 = 1000
        while taken.contains(id) { id += 1 }
        self.uid = id; self.gid = id; self.inImage = false; self.homeInNode = "/home/" + user
    }

    static func entries(_ path: String) -> [[String]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }
    }

    /// The user's home in the shared folder, with the login key (once per cluster; called holding its lock).
    func prepareHome(in home: String, publicKey: String, imageRoot: String) throws {
        guard !inImage else { return }
        let files = FileManager.default
        let folder = home + "/" + user
        do {
            if !files.fileExists(atPath: folder) {
                try files.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
                for entry in (try? files.contentsOfDirectory(atPath: imageRoot + "/etc/skel")) ?? [] {
                    try files.copyItem(atPath: imageRoot + "/etc/skel/" + entry, toPath: folder + "/" + entry)
                    lchown(folder + "/" + entry, uid, gid)
                }
                chown(folder, uid, gid)
            }
            try Self.addKey(publicKey, home: [user], under: home, uid: uid, gid: gid)
        } catch let error as CloudcError {
            throw error
        } catch {
            throw CloudcError(.io, "cannot prepare the home folder \(folder) of login user \(user)", cause: "\(error)")
        }
    }

    /// Makes the account on a node and lets the key in.
    func install(in root: String, publicKey: String, commands: any HostCommands) async throws {
        if inImage {
            guard let home = SafeFiles.components(String(homeInNode.drop { $0 == "/" })) else {
                throw CloudcError(.config, "the home folder \(homeInNode) of login user \(user) in the node image is not a plain path")
            }
            try Self.addKey(publicKey, home: home, under: root, uid: uid, gid: gid)
        } else {
            let groups = Self.entries(root + "/etc/group")
            if !groups.contains(where: { $0.first == user }) {
                try await commands.run("groupadd", ["--root", root, "--gid", String(gid), user])
            }
            if !Self.entries(root + "/etc/passwd").contains(where: { $0.first == user }) {
                try await commands.run("useradd", ["--root", root, "--uid", String(uid), "--gid", String(gid),
                                                   "--home-dir", homeInNode, "--no-create-home", "--shell", "/bin/bash", user])
            }
        }
        guard uid != 0 else { return }
        try NodeBoot.write("# Written by cloudc: the login user may run anything as root.\n\(user) ALL=(ALL:ALL) NOPASSWD: ALL\n",
                           to: ["etc", "sudoers.d", "cloudc"], in: root, mode: 0o440)
    }

    /// `root/home/.ssh/authorized_keys` holds `publicKey` (added once), owned by the user. The
    /// user can change everything below `root/home` (inside a node, or in the shared /home), so
    /// it is read and written without following links: a planted `authorized_keys → /etc/shadow`
    /// is refused, never copied or chowned.
    static func addKey(_ publicKey: String, home: [String], under root: String, uid: UInt32, gid: UInt32) throws {
        let path = home + [".ssh", "authorized_keys"]
        let key = publicKey.trimmingCharacters(in: .whitespacesAndNewlines)
        let existing = (try SafeFiles.read(path, under: root)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        var text = existing
        if !existing.split(separator: "\n").contains(where: { $0.trimmingCharacters(in: .whitespaces) == key }) {
            text = (existing.isEmpty || existing.hasSuffix("\n") ? existing : existing + "\n") + key + "\n"
        }
        try SafeFiles.write(Data(text.utf8), to: path, under: root, mode: 0o600, folderMode: 0o700, owner: (uid, gid))
    }
}

import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What the local provider needs to know about the machine it runs on (stands in for tests).
public struct LocalHost: Sendable, Equatable {
    public var isLinux: Bool
    public var effectiveUserID: UInt32
    public init(isLinux: Bool, effectiveUserID: UInt32) {
        self.isLinux = isLinux; self.effectiveUserID = effectiveUserID
    }

    public static var current: LocalHost {
        #if os(Linux)
        LocalHost(isLinux: true, effectiveUserID: geteuid())
        #else
        LocalHost(isLinux: false, effectiveUserID: geteuid())
        #endif
    }
}

/// Nodes on this machine: each a systemd-nspawn container booting real systemd, with its own
/// writable root (an overlay on a shared debootstrap image), hostname, machine-id, SSH host
/// keys and address on a bridge made for the cluster; /home is one host folder per cluster,
/// bind-mounted into every node.
///
/// Every host program runs through `HostCommands`. Node folders are the cloud's memory: each
/// holds an `instance.json` with the node's tags, so `instances` finds a cluster from the disk
/// alone, and a repeated launch finds what an earlier one made.
public struct LocalProvider: CloudProvider {
    public let cloudName: String
    public let settings: LocalSettings
    public let layout: LocalLayout
    let commands: any HostCommands
    let progress: any ProgressSink
    let host: LocalHost
    /// Held by every cloudc on this machine while it picks a bridge subnet.
    let networkLockPath: String
    /// How long a node gets to power off after SIGTERM before it is killed.
    let stopTimeout: Double
    /// How long systemd-nspawn gets to set a node up (its veth on the bridge) after it starts.
    let bootTimeout: Double
    /// Root's inotify limits, which every node draws on.
    let inotify: InotifyLimits

    public static let flavor = "container"
    public static let requiredPrograms = ["systemd-nspawn", "debootstrap", "ip", "mount", "umount", "setsid",
                                          "ssh-keygen", "useradd", "groupadd", "chroot", "rm", "bash"]

    public init(cloudName: String = "local", settings: LocalSettings = LocalSettings(),
                commands: any HostCommands = ProcessHostCommands(), progress: any ProgressSink = SilentProgress(),
                host: LocalHost = .current, networkLockPath: String = "/run/lock/cloudc-network.lock",
                stopTimeout: Double = 15, bootTimeout: Double = 20, inotify: InotifyLimits = InotifyLimits()) {
        self.cloudName = cloudName; self.settings = settings
        self.layout = LocalLayout(root: settings.root ?? LocalSettings.defaultRoot)
        self.commands = commands; self.progress = progress; self.host = host
        self.networkLockPath = networkLockPath; self.stopTimeout = stopTimeout; self.bootTimeout = bootTimeout
        self.inotify = inotify
    }

    public var traits: ProviderTraits { ProviderTraits(sharedHome: true, slurmCgroups: false, packageCache: false) }

    var imageDir: String { settings.imageDir ?? LocalSettings.defaultImageDir }
    var mirror: String { settings.mirror ?? LocalSettings.defaultMirror }

    public func image(named name: String) throws -> LocalImage {
        try LocalImage(name: name, imageDir: imageDir, mirror: mirror)
    }

    // MARK: validation

    /// Root on Linux with the programs the provider runs.
    public func checkHost() throws {
        let fix = "run as root (sudo cloudc …) on a Linux machine with systemd-container installed"
        guard host.isLinux else {
            throw CloudcError(.unsupported, "the local provider needs root on Linux; this machine is not Linux", fix: fix)
        }
        guard host.effectiveUserID == 0 else {
            throw CloudcError(.unsupported, "the local provider needs root on Linux (it makes containers, a bridge and mounts); cloudc runs as uid \(host.effectiveUserID)",
                              fix: fix)
        }
        let missing = Self.requiredPrograms.filter { commands.locate($0) == nil }
        guard missing.isEmpty else {
            throw CloudcError(.unsupported, "the local provider needs root on Linux with systemd-nspawn and debootstrap; not installed: \(missing.joined(separator: ", "))",
                              fix: fix + " (apt-get install systemd-container debootstrap iproute2 openssh-client passwd)")
        }
    }

    public func validate(_ spec: ClusterSpec) async throws {
        try checkHost()
        for name in Set([spec.image] + spec.groups.compactMap(\.image)).sorted() {
            _ = try image(named: name)
        }
        for group in spec.groups where group.flavor != Self.flavor {
            throw CloudcError(.config, "group '\(group.name)' asks for flavor '\(group.flavor)', but local nodes are all of flavor '\(Self.flavor)'",
                              fix: "set flavor: \(Self.flavor) in clusters.\(spec.template).groups.\(group.name), or leave flavor: out")
        }
        if let text = settings.subnet {
            guard let subnet = IPv4Network(cidr: text), subnet.host(1) != nil else {
                throw CloudcError(.config, "subnet '\(text)' of cloud '\(cloudName)' is not an IPv4 network with room for a bridge and nodes",
                                  fix: "set subnet: in clouds.\(cloudName) to a private network such as 10.77.0.0/24")
            }
            let nodes = spec.groups.reduce(0) { $0 + $1.count }
            let room = max(0, Int(min(subnet.size, 1 << 20)) - 1 - LocalNetwork.firstNodeHost)
            if nodes > room {
                throw CloudcError(.config, "subnet \(text) of cloud '\(cloudName)' has addresses for \(room) nodes, and the cluster has \(nodes)",
                                  fix: "use a larger subnet: in clouds.\(cloudName) (a /24 holds 245 nodes)")
            }
        }
    }

    // MARK: resources

    public func plannedResources(for request: AccessRequest) -> [ResourceRecord] {
        [ResourceRecord(kind: .bridge, name: LocalNetwork.bridgeName(cluster: request.cluster, incarnation: request.incarnation)),
         ResourceRecord(kind: .sharedDirectory, name: layout.homeDirectory(cluster: request.cluster, incarnation: request.incarnation))]
    }

    public func create(_ resource: ResourceRecord, for request: AccessRequest) async throws -> ResourceRecord {
        try checkHost()
        var created = resource
        created.status = .created
        switch resource.kind {
        case .bridge:
            created.id = try await createBridge(resource.name)
        case .sharedDirectory:
            try makeDirectory(resource.name, mode: 0o755)
            created.id = resource.name
        case .keyPair, .securityGroup, .firewall, .floatingIP:
            throw CloudcError(.internalError, "the local provider does not create \(resource.kind.rawValue) resources")
        }
        return created
    }

    /// Makes the bridge (or finds it) and gives it the first address of its subnet; returns the record id.
    func createBridge(_ name: String) async throws -> String {
        try await withFileLock(networkLockPath) {
            let addresses = LocalNetwork.parseAddresses(try await commands.run("ip", ["-4", "-o", "addr", "show"]))
            let exists = try await linkExists(name)
            if exists, let own = addresses.first(where: { $0.interface == name }) {
                try await commands.run("ip", ["link", "set", name, "up"])
                return "\(name) \(IPv4Network.format(own.address))/\(own.prefix)"
            }
            let others = addresses.filter { $0.interface != name }
            let subnet: IPv4Network
            if let text = settings.subnet {
                guard let wanted = IPv4Network(cidr: text), wanted.host(1) != nil else {
                    throw CloudcError(.config, "subnet '\(text)' of cloud '\(cloudName)' is not an IPv4 network with room for a bridge and nodes",
                                      fix: "set subnet: in clouds.\(cloudName) to a private network such as 10.77.0.0/24")
                }
                if let clash = others.first(where: { $0.network.overlaps(wanted) }) {
                    throw CloudcError(.config, "subnet \(text) of cloud '\(cloudName)' is already in use on this machine: interface \(clash.interface) has \(IPv4Network.format(clash.address))/\(clash.prefix)",
                                      fix: "set subnet: in clouds.\(cloudName) to a network no interface uses, or leave it out and cloudc picks a free /24 of \(LocalNetwork.defaultPool)")
                }
                subnet = wanted
            } else {
                guard let free = LocalNetwork.firstFreeSubnet(taken: others) else {
                    throw CloudcError(.unavailable, "every /24 of \(LocalNetwork.defaultPool) is in use on this machine",
                                      fix: "set subnet: in clouds.\(cloudName) to a free private network")
                }
                subnet = free
            }
            if !exists {
                try await commands.run("ip", ["link", "add", name, "type", "bridge"])
            }
            let id = LocalNetwork.bridgeID(name: name, subnet: subnet)
            let cidr = String(id.split(separator: " ")[1])
            try await commands.run("ip", ["addr", "add", cidr, "dev", name])
            try await commands.run("ip", ["link", "set", name, "up"])
            return id
        }
    }

    func linkExists(_ name: String) async throws -> Bool {
        try await commands.execute("ip", ["-o", "link", "show", "dev", name]).status == 0
    }

    public func delete(_ resource: ResourceRecord) async throws {
        switch resource.kind {
        case .bridge:
            try checkHost()
            guard LocalNetwork.isBridgeName(resource.name) else {
                throw CloudcError(.state, "refusing to delete the interface '\(resource.name)' the state names: cloudc's bridges are cc- and 8 hex digits",
                                  fix: "check the state file of this cluster; delete a bridge of its own by hand with: ip link del NAME")
            }
            if try await linkExists(resource.name) {
                try await commands.run("ip", ["link", "del", resource.name])
            }
        case .sharedDirectory:
            try checkHost()
            let path = try ownedHome(resource.id ?? resource.name)
            if FileManager.default.fileExists(atPath: path) {
                try await commands.run("rm", ["-rf", "--one-file-system", path])
            }
            let directory = (path as NSString).deletingLastPathComponent
            removeClusterDirectoryIfUnused(directory)
            // Its node folders must be gone by now; anything left is named, not waited for.
            if FileManager.default.fileExists(atPath: directory) {
                let left = FileManager.default.enumerator(atPath: directory).map { walker in
                    (0..<5).compactMap { _ in walker.nextObject() as? String }
                } ?? []
                throw CloudcError(.io, "the cluster's folder \(directory) is still there after its home was removed; it holds \(left.joined(separator: ", "))",
                                  fix: "run the stop again; if that does not help, see what holds it: grep \(directory) /proc/mounts")
            }
        case .keyPair, .securityGroup, .firewall, .floatingIP:
            return
        }
    }

    public func exists(_ resource: ResourceRecord) async throws -> Bool {
        switch resource.kind {
        case .bridge: return try await linkExists(resource.name)
        case .sharedDirectory:
            // The home and the cluster's folder around it (its nodes/ and .lock) are gone together.
            let home = resource.id ?? resource.name
            return FileManager.default.fileExists(atPath: home)
                || FileManager.default.fileExists(atPath: (home as NSString).deletingLastPathComponent)
        case .keyPair, .securityGroup, .firewall, .floatingIP: return false
        }
    }

    /// `path` if it is a cluster's home folder of this provider: `<root>/<cluster>-<incarnation>/home`
    /// with no `.`, `..` or empty part, under the canonical root. The state file says which to
    /// delete, but cloudc removes nothing of its own choosing outside its root.
    func ownedHome(_ path: String) throws -> String {
        let root = (layout.root as NSString).standardizingPath
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let rootParts = root.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard path.hasPrefix("/"), parts.count == rootParts.count + 2, Array(parts.prefix(rootParts.count)) == rootParts,
              parts.last == "home", let cluster = parts.dropLast().last,
              cluster.range(of: #"^[a-z][a-z0-9-]*-[0-9a-f]{12}$"#, options: .regularExpression) != nil else {
            throw CloudcError(.state, "refusing to delete '\(path)': not a cluster home folder under the local cloud's root \(root)",
                              fix: "check the state file and root: of the local cloud; remove the folder by hand if it is a leftover of cloudc")
        }
        return root + "/" + cluster + "/home"
    }

    /// Removes a cluster's folder once it holds no home and no node.
    func removeClusterDirectoryIfUnused(_ directory: String) {
        let files = FileManager.default
        let nodes = directory + "/nodes"
        // A node folder a killed launch made but never described is empty (its metadata comes first).
        for entry in (try? files.contentsOfDirectory(atPath: nodes)) ?? [] { rmdir(nodes + "/" + entry) }
        if (try? files.contentsOfDirectory(atPath: nodes))?.isEmpty == true { rmdir(nodes) }
        guard let left = try? files.contentsOfDirectory(atPath: directory), Set(left).isSubset(of: [".lock"]) else { return }
        unlink(directory + "/.lock")
        rmdir(directory)
    }

    func makeDirectory(_ path: String, mode: Int) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: mode])
        } catch {
            throw CloudcError(.io, "cannot create the folder \(path)", cause: "\(error)")
        }
    }

    // MARK: instances

    /// The machine name and instance id of a node: `cc` and 10 hex digits. Twelve characters,
    /// so systemd-nspawn's host-side veth `vb-<machine>` fits the 15 characters of an interface
    /// name whole and never collides through truncation (or through a 24-bit hash, which is
    /// what v252 shortens longer names to).
    public static func machineName(cluster: String, incarnation: String, node: String) -> String {
        "cc" + LocalNetwork.hexDigest([cluster, incarnation, node].joined(separator: "\u{1f}"), length: 10)
    }

    public func launch(_ request: LaunchRequest) async throws -> [CloudInstance] {
        try checkHost()
        guard let bridge = request.resources.first(where: { $0.kind == .bridge }), let bridgeID = bridge.id,
              let subnet = LocalNetwork.subnet(fromBridgeID: bridgeID),
              let home = request.resources.first(where: { $0.kind == .sharedDirectory }).flatMap({ $0.id ?? $0.name }) else {
            throw CloudcError(.internalError, "launching \(request.group.name) before the cluster's bridge and home folder exist")
        }
        let image = try image(named: request.group.image ?? request.image)
        let imagePath = try await image.ensure(commands: commands, progress: progress)
        let login = try LoginAccount(user: request.access.loginUser, imageRoot: imagePath)

        let nodes: [(files: NodeFiles, metadata: NodeMetadata)] = try await withFileLock(
            layout.lockPath(cluster: request.cluster, incarnation: request.incarnation)) {
            try login.prepareHome(in: home, publicKey: request.access.publicKey, imageRoot: imagePath)
            return try claim(request, subnet: subnet, bridge: bridge.name, image: image.name)
        }
        // Every node not yet booted on this machine (this launch's and any other's in flight) needs its
        // share of root's inotify limits; counted after the claim, so concurrent launches see each other.
        let booting = layout.nodes().filter { $0.metadata.phase == .preparing && $0.files.runningPID() == nil }.count
        try inotify.ensure(nodes: booting, progress: progress)
        let boot = NodeBoot(commands: commands, imagePath: imagePath, home: home, login: login,
                            publicKey: request.access.publicKey, subnet: subnet, timeout: bootTimeout,
                            packageCachePort: settings.packageCachePort)
        let instances = try await withThrowingTaskGroup(of: CloudInstance.self) { tasks in
            for (index, node) in nodes.enumerated() {
                tasks.addTask {
                    let metadata = try await boot.start(node.files, node.metadata)
                    var instance = Self.instance(node.files, metadata)
                    instance.launchIndex = index
                    return instance
                }
            }
            var found: [CloudInstance] = []
            for try await instance in tasks { found.append(instance) }
            return found
        }
        return instances.sorted { ($0.launchIndex ?? 0) < ($1.launchIndex ?? 0) }
    }

    /// Called holding the cluster's lock: finds each node's folder, or makes it with the
    /// lowest free address. A folder from another launch is adopted, never duplicated.
    func claim(_ request: LaunchRequest, subnet: IPv4Network, bridge: String, image: String) throws -> [(files: NodeFiles, metadata: NodeMetadata)] {
        try makeDirectory(layout.nodesDirectory(cluster: request.cluster, incarnation: request.incarnation), mode: 0o700)
        var used = Set(layout.nodes(cluster: request.cluster, incarnation: request.incarnation).compactMap { IPv4Network.parse($0.metadata.ip) })
        var claimed: [(files: NodeFiles, metadata: NodeMetadata)] = []
        for node in request.nodes {
            let files = layout.node(cluster: request.cluster, incarnation: request.incarnation, node: node)
            if var metadata = files.readMetadata() {
                if metadata.launchToken != request.token {
                    progress.report("\(node) exists from an earlier launch (\(metadata.launchToken)); using it")
                }
                if metadata.phase == .preparing {
                    // This process boots it now.
                    metadata.launcher = ProcessIdentity.current
                    try files.writeMetadata(metadata)
                }
                claimed.append((files, metadata))
                continue
            }
            guard let address = LocalNetwork.nodeAddress(in: subnet, used: used) else {
                throw CloudcError(.capacity, "the bridge network \(subnet) of cluster \(request.cluster) has no free address for \(node)",
                                  fix: "set a larger subnet: in clouds.\(cloudName) for the next cluster, or make this one smaller")
            }
            used.insert(address)
            // The metadata first: a folder is never left that `instances` does not list.
            try makeDirectory(files.directory, mode: 0o755)
            var metadata = NodeMetadata(
                id: Self.machineName(cluster: request.cluster, incarnation: request.incarnation, node: node),
                cluster: request.cluster, incarnation: request.incarnation, group: request.group.name, node: node,
                launchToken: request.token, address: "\(IPv4Network.format(address))/\(subnet.prefix)",
                bridge: bridge, image: image, phase: .preparing, createdAt: Date())
            metadata.launcher = ProcessIdentity.current
            try files.writeMetadata(metadata)
            for folder in [files.upper, files.work, files.root] { try makeDirectory(folder, mode: 0o755) }
            claimed.append((files, metadata))
        }
        Failpoint.kill(at: "local.after-claim")
        return claimed
    }

    /// The instances' incarnations and the cluster folders `<root>/<cluster>-<incarnation>` (its
    /// home outlives its nodes).
    public func incarnations(of cluster: String) async throws -> Set<String> {
        var found = Set(try await instances(cluster: cluster, incarnation: nil).compactMap(\.incarnation))
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: layout.root)) ?? [] where entry.hasPrefix(cluster + "-") {
            let incarnation = String(entry.dropFirst(cluster.count + 1))
            if incarnation.count == 12, incarnation.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) { found.insert(incarnation) }
        }
        return found
    }

    public func instances(cluster: String, incarnation: String?) async throws -> [CloudInstance] {
        layout.nodes(cluster: cluster, incarnation: incarnation).map { Self.instance($0.files, $0.metadata) }
    }

    static func instance(_ files: NodeFiles, _ metadata: NodeMetadata) -> CloudInstance {
        let running = files.runningPID() != nil
        let state: InstanceState
        switch (metadata.phase, running) {
        // A node is gone only when its folder is: one powered off by a stop that was cut short
        // still has its overlay mounted or its files, and the next stop must remove them.
        case (.terminating, _): state = .terminating
        case (_, true): state = .running
        // A launch cut short (its cloudc killed before the node booted) never finishes by itself:
        // an error, so the next start deletes it and launches the node anew.
        case (.preparing, false): state = metadata.launcher.map { !$0.isAlive } == true ? .error : .pending
        case (.booted, false): state = .stopped
        }
        let fault = switch state {
        case .stopped: "its systemd-nspawn is not running (see \(files.logPath))"
        case .error: "its launch was cut short: the cloudc that booted it (pid \(metadata.launcher?.pid ?? 0)) is gone"
        default: String?.none
        }
        var instance = CloudInstance(
            id: metadata.id, node: metadata.node, group: metadata.group, launchToken: metadata.launchToken,
            incarnation: metadata.incarnation, state: state, privateIP: metadata.ip, flavor: flavor, fault: fault)
        instance.hostKeys = metadata.hostKeys ?? []
        return instance
    }

    public func assign(node: String, cluster: String, instanceID: String) async throws {
        guard let found = layout.nodes(cluster: cluster).first(where: { $0.metadata.id == instanceID }) else {
            throw CloudcError(.notFound, "cluster \(cluster) has no local node \(instanceID)",
                              fix: "see the nodes with: cloudc list-nodes \(cluster)")
        }
        var metadata = found.metadata
        metadata.node = node
        try found.files.writeMetadata(metadata)
    }

    public func terminate(_ instanceIDs: [String]) async throws {
        guard !instanceIDs.isEmpty else { return }
        try checkHost()
        let wanted = Set(instanceIDs)
        let found = layout.nodes().filter { wanted.contains($0.metadata.id) }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for node in found {
                tasks.addTask { try await stop(node.files, node.metadata) }
            }
            try await tasks.waitForAll()
        }
    }

    /// Powers a node off (SIGTERM to systemd-nspawn, SIGKILL after `stopTimeout`), unmounts its
    /// root and removes its folder.
    func stop(_ files: NodeFiles, _ metadata: NodeMetadata) async throws {
        var terminating = metadata
        terminating.phase = .terminating
        try? files.writeMetadata(terminating)
        if let pid = files.runningPID() {
            kill(pid, SIGTERM)
            Failpoint.kill(at: "local.after-sigterm")
            if !(await waitForExit(pid, timeout: stopTimeout)) {
                kill(pid, SIGKILL)
                _ = await waitForExit(pid, timeout: 5)
            }
        }
        if ProcessTable.isMountPoint(files.root) {
            // A node whose systemd-nspawn was killed keeps running without it: end what is left,
            // and wait until it is gone (on a busy machine a killed process takes a while to die).
            let deadline = Date().addingTimeInterval(stopTimeout)
            while Date() < deadline {
                let left = ProcessTable.processes(rootedAt: files.root)
                if left.isEmpty { break }
                for pid in left { kill(pid, SIGKILL) }
                try await Task.sleep(nanoseconds: 200_000_000)
            }
            try await unmount(files.root)
        }
        await NodeCgroup.remove(metadata.id)
        try await remove(files)
        removeClusterDirectoryIfUnused(((files.directory as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent)
    }

    /// Removes a node's folder with its `instance.json` last: a removal cut short leaves the
    /// node listed (and so finished by the next stop), never files that nothing lists.
    func remove(_ files: NodeFiles) async throws {
        let fix = "remove \(files.directory) by hand once nothing uses it, then run the command again"
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: files.directory)) ?? [])
            .filter { $0 != "instance.json" }.sorted().map { files.directory + "/" + $0 }
        if !entries.isEmpty {
            try await commands.run("rm", ["-rf", "--one-file-system", "--"] + entries, fix: fix)
        }
        guard unlink(files.metadataPath) == 0 || errno == ENOENT, rmdir(files.directory) == 0 || errno == ENOENT else {
            throw CloudcError(.io, "cannot remove \(files.directory)", fix: fix, cause: String(cString: strerror(errno)))
        }
    }

    func waitForExit(_ pid: pid_t, timeout: Double) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while ProcessTable.isAlive(pid) {
            if Date() > deadline { return false }
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        return true
    }

    /// `umount`, retried while the mount is busy, then a lazy unmount.
    func unmount(_ path: String) async throws {
        for _ in 0..<5 {
            if try await commands.execute("umount", [path]).status == 0 || !ProcessTable.isMountPoint(path) { return }
            try await Task.sleep(nanoseconds: 500_000_000)
        }
        try await commands.run("umount", ["-l", path])
    }
}

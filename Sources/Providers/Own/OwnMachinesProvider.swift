import CloudcCore
import Foundation
import SSH

/// `provider: ssh`: the user's own machines. Launching a node leases the next free listed host
/// of its group (nothing is created); terminating one undoes on the machine what setup did
/// (services cloudc started, files it wrote, with `purge` the packages it installed) and
/// releases it. A machine is never powered off.
public struct OwnMachinesProvider: CloudProvider {
    let cloudName: String
    let settings: OwnMachinesSettings
    let registry: OwnMachinesRegistry
    let resolver: OwnHostResolver
    /// Host keys of the cloud's machines: those the user's known_hosts has, else the first seen.
    let knownHosts: KnownHosts
    /// `cloudc stop --purge`: also remove the packages setup installed.
    let purge: Bool
    let progress: any ProgressSink

    public init(cloudName: String, settings: OwnMachinesSettings, cloudcHome: String, homeDirectory: String,
                purge: Bool = false, progress: any ProgressSink) {
        self.cloudName = cloudName
        self.settings = settings
        self.registry = OwnMachinesRegistry(path: cloudcHome + "/own-machines.json")
        self.resolver = OwnHostResolver(settings: settings, homeDirectory: homeDirectory)
        self.knownHosts = KnownHosts(path: cloudcHome + "/own-machines.\(cloudName).known_hosts")
        self.purge = purge
        self.progress = progress
    }

    public var traits: ProviderTraits {
        // The machines have their own way out (no package cache) and, being real machines, their cgroups.
        ProviderTraits(sharedHome: false, slurmCgroups: true, hostKeySource: nil, packageCache: false, ownMachines: true)
    }

    // MARK: Checks

    /// Every machine the cluster would take answers, logs in, has sudo without a password,
    /// runs Debian or Ubuntu, and is free; else nothing happens and each machine
    /// is named with what to fix.
    public func validate(_ spec: ClusterSpec) async throws {
        let resolved = try await resolveAll()
        let leases = try registry.read()
        var chosen: [ResolvedHost] = []
        var problems: [String] = []
        for group in spec.groups {
            let free = pool(for: group).compactMap { resolved[$0] }.filter { host in
                !chosen.contains(host) && OwnMachinesRegistry.lease(of: host, in: leases) == nil
            }
            if free.count < group.count {
                let held = pool(for: group).compactMap { name in
                    resolved[name].flatMap { host in OwnMachinesRegistry.lease(of: host, in: leases) }
                        .map { "\(name) (cluster \($0.cluster))" }
                }
                problems.append("group \(group.name) needs \(group.count) machine(s) and \(free.count) are free"
                                + (held.isEmpty ? "" : "; in use: \(held.joined(separator: ", "))"))
            }
            chosen += free.prefix(group.count)
        }
        if !problems.isEmpty {
            throw CloudcError(.capacity, "not enough free machines on cloud \(cloudName): " + problems.joined(separator: "; "),
                              fix: "stop the cluster that holds them, list more hosts, or lower the group's count "
                                  + "(a cluster whose state file is gone still holds its machines in \(registry.path): "
                                  + "remove its entries there once you have cleaned them up)")
        }
        progress.report("Checking \(chosen.count) machine(s) of \(cloudName): \(chosen.map(\.host).joined(separator: ", "))")
        try await check(chosen)
    }

    /// Enough of the group's listed machines are free, and the ones a grow would take pass the checks.
    public func validateGrowth(of group: NodeGroupSpec, by count: Int, cluster: String) async throws {
        let resolved = try await resolveAll()
        let leases = try registry.read()
        let pool = pool(for: group)
        let free = pool.compactMap { resolved[$0] }.filter { host in
            OwnMachinesRegistry.lease(of: host, in: leases) == nil
        }
        guard free.count >= count else {
            let held = pool.compactMap { name in
                resolved[name].flatMap { host in OwnMachinesRegistry.lease(of: host, in: leases) }
                    .map { "\(name) (\($0.cluster == cluster ? "this cluster's \($0.node)" : "cluster \($0.cluster)"))" }
            }
            throw CloudcError(.capacity, "no free machine left in group \(group.name) of cloud \(cloudName) for \(count) more node(s)"
                              + ": \(free.count) free; in use: \(held.joined(separator: ", "))",
                              fix: "list more hosts for group \(group.name) in clouds.\(cloudName), or stop a cluster that holds some")
        }
        progress.report("Checking \(free.prefix(count).map(\.host).joined(separator: ", "))")
        try await check(Array(free.prefix(count)))
    }

    /// Connects to each machine at once and reports every one that fails a check.
    func check(_ hosts: [ResolvedHost]) async throws {
        let found: [(String, String?)] = try await forEachBounded(hosts, limit: 32) { host in
            (host.host, await problem(with: host))
        }
        let failures = found.compactMap { name, problem in problem.map { "\(name): \($0)" } }
        guard failures.isEmpty else {
            throw CloudcError(.remote, "\(failures.count) machine(s) of \(cloudName) cannot join a cluster:\n  "
                              + failures.joined(separator: "\n  "),
                              fix: "fix each machine as said, then run the command again: nothing was changed")
        }
    }

    static let checkScript = """
        . /etc/os-release 2>/dev/null; echo "os=$ID like=$ID_LIKE"
        if [ "$(id -u)" = 0 ]; then echo sudo=root; elif sudo -n true 2>/dev/null; then echo sudo=ok; else echo sudo=no; fi
        """

    /// What is wrong with one machine, or nil.
    private func problem(with host: ResolvedHost) async -> String? {
        let output: String
        do {
            let session = try await connect(host)
            let result: ExecResult
            do {
                result = try await session.exec("sh -c " + Shell.quote(Self.checkScript))
            } catch {
                await session.close()
                throw error
            }
            await session.close()
            output = result.stdout
        } catch let error as CloudcError {
            return "cannot log in as \(host.login.user) at \(host.address):\(host.login.port) with \(host.login.key ?? "?"): "
                + error.message + (error.fix.map { " (\($0))" } ?? "")
        } catch {
            return "cannot log in: \(error)"
        }
        let words = Dictionary(output.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { word -> (String, String)? in
            let parts = word.split(separator: "=", maxSplits: 1).map(String.init)
            return parts.count == 2 ? (parts[0], parts[1]) : nil
        }, uniquingKeysWith: { a, _ in a })
        let os = words["os"] ?? ""
        let family = ([os] + (words["like"] ?? "").split(separator: " ").map(String.init))
        if !family.contains(where: { $0 == "debian" || $0 == "ubuntu" }) {
            return "it runs \(os.isEmpty ? "an unknown system" : os); cloudc sets up Debian and Ubuntu machines only"
        }
        if words["sudo"] == "no" {
            return "user \(host.login.user) cannot run sudo without a password; add a line "
                + "'\(host.login.user) ALL=(ALL) NOPASSWD:ALL' in /etc/sudoers.d/ on it, or log in as root"
        }
        return nil
    }

    /// A session with the machine's host key checked: the user's known_hosts is trusted first.
    private func connect(_ host: ResolvedHost) async throws -> SSHSession {
        for file in host.knownHostsFiles where FileManager.default.isReadableFile(atPath: file) {
            let keys = (try? KnownHosts(path: file).keys(host: host.address, port: host.login.port)) ?? []
            if !keys.isEmpty { try knownHosts.pin(host: host.address, port: host.login.port, keys: keys) }
        }
        let jump = settings.jump.flatMap(JumpHost.init)
        let endpoint = SSHEndpoint(host: host.address, port: host.login.port, user: host.login.user,
                                   jump: jump.map { SSHJump(host: $0.host, port: $0.port, user: $0.user ?? host.login.user) })
        // One try: a machine that is up answers at once, and a refused login will not change.
        return try await SSHSession.connect(to: endpoint, identity: SSHIdentity(privateKeyPath: host.login.key ?? ""),
                                            knownHosts: knownHosts, timeout: 15)
    }

    // MARK: Leases

    /// Every listed host, resolved; two names for one machine are refused.
    func resolveAll() async throws -> [String: ResolvedHost] {
        let resolver = self.resolver
        let resolved = try await forEachBounded(settings.hosts, limit: 16) { try await resolver.resolve($0) }
        var seen: [String: String] = [:]
        for host in resolved {
            let key = "\(host.address):\(host.login.port)"
            if let other = seen[key] {
                throw CloudcError(.config, "hosts \(other) and \(host.host) of cloud \(cloudName) are one machine (\(key))",
                                  fix: "list each machine once")
            }
            seen[key] = host.host
        }
        return Dictionary(uniqueKeysWithValues: resolved.map { ($0.host, $0) })
    }

    /// The hosts a group's nodes are taken from, in order (the config fills in, for a group that
    /// names none, the hosts no group names).
    func pool(for group: NodeGroupSpec) -> [String] { group.hosts ?? settings.hosts.map(\.host) }

    public func plannedResources(for request: AccessRequest) -> [ResourceRecord] { [] }

    public func create(_ resource: ResourceRecord, for request: AccessRequest) async throws -> ResourceRecord { resource }

    public func delete(_ resource: ResourceRecord) async throws {}

    public func exists(_ resource: ResourceRecord) async throws -> Bool { false }

    /// Leases a free host of the group for each node (the same one again on a repeat). The
    /// machines were checked before anything was recorded: by `validate` (start) or
    /// `validateGrowth` (resize), which choose the same free machines in the same order.
    public func launch(_ request: LaunchRequest) async throws -> [CloudInstance] {
        let resolved = try await resolveAll()
        let leased: [OwnMachinesRegistry.Lease] = try await registry.update { leases in
            var mine: [OwnMachinesRegistry.Lease] = []
            var fresh: [ResolvedHost] = []
            for node in request.nodes {
                if let held = leases.first(where: { $0.cluster == request.cluster && $0.incarnation == request.incarnation && $0.node == node }) {
                    mine.append(held)
                    continue
                }
                let free = pool(for: request.group).compactMap { resolved[$0] }.first { host in
                    OwnMachinesRegistry.lease(of: host, in: leases) == nil
                        && !fresh.contains(host)
                }
                guard let host = free else {
                    throw CloudcError(.capacity, "no free machine left in group \(request.group.name) of cloud \(cloudName) for \(node)",
                                      fix: "list more hosts for the group, or stop a cluster that holds some")
                }
                fresh.append(host)
                mine.append(OwnMachinesRegistry.Lease(cloud: cloudName, host: host.host, address: host.address, port: host.login.port,
                                                      cluster: request.cluster, incarnation: request.incarnation, node: node,
                                                      group: request.group.name, token: request.token, login: host.login))
            }
            leases += mine.filter { lease in !leases.contains(lease) }
            return mine
        }
        return leased.map(instance)
    }

    public func instances(cluster: String, incarnation: String?) async throws -> [CloudInstance] {
        try registry.read().filter { $0.cloud == cloudName && $0.cluster == cluster && (incarnation == nil || $0.incarnation == incarnation) }
            .map(instance)
    }

    public func assign(node: String, cluster: String, instanceID: String) async throws {
        try await registry.update { leases in
            for index in leases.indices where leases[index].cloud == cloudName && leases[index].host == instanceID
                && leases[index].cluster == cluster {
                leases[index].node = node
            }
        }
    }

    /// Undoes setup on each machine, then releases it. A machine that cannot be reached stays
    /// leased, and the error says which: its SLURM daemons may still run.
    public func terminate(_ instanceIDs: [String]) async throws {
        let leases = try registry.read().filter { $0.cloud == cloudName && instanceIDs.contains($0.host) }
        let failures: [String] = try await forEachBounded(leases, limit: 32) { lease in
            do {
                try await undo(lease)
                try await registry.update { all in all.removeAll { $0 == lease } }
                return nil
            } catch {
                return "\(lease.host): \((error as? CloudcError)?.message ?? "\(error)")"
            }
        }.compactMap { $0 }
        guard failures.isEmpty else {
            throw CloudcError(.remote, "could not undo setup on \(failures.count) machine(s):\n  " + failures.joined(separator: "\n  "),
                              fix: "make them reachable again and run the command again; they stay in the cluster until then")
        }
    }

    /// Stops and disables the services setup started (unless they ran before), puts back the
    /// files it replaced and removes the ones it made, with `purge` removes the packages it
    /// installed, and forgets its record. Leaves the machine running.
    func undo(_ lease: OwnMachinesRegistry.Lease) async throws {
        let host = ResolvedHost(host: lease.host, address: lease.address, login: lease.login, knownHostsFiles: [])
        progress.report("Undoing setup on \(lease.host) (\(lease.node))\(purge ? ", removing the packages it installed" : "")")
        let session = try await connect(host)
        let sudo = lease.login.user == "root" ? "" : "sudo -n "
        let result: ExecResult
        do {
            result = try await session.exec(sudo + "sh -s", stdin: Array(Self.undoScript(purge: purge).utf8), onOutput: nil)
            await session.close()
        } catch {
            await session.close()
            throw error
        }
        guard result.status == 0 else {
            throw CloudcError(.remote, "undoing setup exited with status \(result.status)",
                              cause: (result.stderr + result.stdout).split(separator: "\n").suffix(4).joined(separator: " "))
        }
    }

    static func undoScript(purge: Bool) -> String {
        let r = OwnMachineRecord.folder
        return """
            R=\(r); [ -d $R ] || exit 0
            if [ -f $R/services ]; then tac $R/services | while read -r s; do
              grep -qxF "$s.service" $R/enabled-before 2>/dev/null || systemctl disable --quiet "$s" 2>/dev/null
              grep -qxF "$s.service" $R/active-before 2>/dev/null || systemctl stop "$s" 2>/dev/null
            done; fi
            if [ -f $R/files ]; then while read -r f; do
              if [ -e "$R/backup$f" ] || [ -L "$R/backup$f" ]; then cp -a "$R/backup$f" "$f"; else rm -f "$f"; fi
            done < $R/files; fi
            \(purge ? """
            if [ -s $R/packages ]; then env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $(cat $R/packages) >/dev/null \
              && env DEBIAN_FRONTEND=noninteractive apt-get autoremove --purge -y -q >/dev/null || exit 3; fi
            """ : "")
            rm -rf $R; rmdir "$(dirname $R)" 2>/dev/null; true
            """
    }

    public func hostKeys(nodes: [String: String]) async throws -> [String: [String]] {
        let leases = try registry.read().filter { $0.cloud == cloudName }
        var keys: [String: [String]] = [:]
        for (node, host) in nodes {
            guard let lease = leases.first(where: { $0.host == host }) else { continue }
            keys[node] = try knownHosts.keys(host: lease.address, port: lease.port)
        }
        return keys
    }

    private func instance(_ lease: OwnMachinesRegistry.Lease) -> CloudInstance {
        var instance = CloudInstance(id: lease.host, node: lease.node, group: lease.group, launchToken: lease.token,
                                     incarnation: lease.incarnation, state: .running, privateIP: lease.address, flavor: "host")
        instance.login = lease.login
        instance.hostKeys = (try? knownHosts.keys(host: lease.address, port: lease.port)) ?? []
        return instance
    }
}

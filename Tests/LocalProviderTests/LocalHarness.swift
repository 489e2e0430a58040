import CloudcCore
import Foundation
import Providers
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The local provider's tests boot real containers: they need root. Without it they fail
/// (not skip), so a CI run that lost root does not pass quietly.
func requireRoot() throws {
    guard geteuid() == 0 else {
        throw PeerError("LocalProviderTests need root (they create systemd-nspawn containers, a bridge and overlay mounts): run the suite as root, as CI does")
    }
}

/// Progress lines, kept for checks and echoed to stderr (the image build takes minutes).
struct CapturedProgress: ProgressSink {
    let lines = OutputCapture()
    func report(_ line: String) {
        lines.append(line)
        FileHandle.standardError.write(Data("[local] \(line)\n".utf8))
    }
}

/// Stands in for the host: every program is "installed", every command recorded and answered
/// from `answers` (by the command line's first words), exit 0 with no output otherwise.
final class FakeHostCommands: HostCommands, @unchecked Sendable {
    private let lock = NSLock()
    private var log: [[String]] = []
    let answers: [String: CommandResult]
    /// Acts out a command (returns nil to fall back to `answers`).
    let handler: @Sendable ([String]) async -> CommandResult?

    init(answers: [String: CommandResult] = [:], handler: @escaping @Sendable ([String]) async -> CommandResult? = { _ in nil }) {
        self.answers = answers; self.handler = handler
    }

    func locate(_ program: String) -> String? { "/usr/bin/" + program }

    func execute(_ program: String, _ arguments: [String]) async throws -> CommandResult {
        let line = [program] + arguments
        record(line)
        if let result = await handler(line) { return result }
        let text = line.joined(separator: " ")
        let key = answers.keys.filter { text.hasPrefix($0) }.max { $0.count < $1.count }
        return key.flatMap { answers[$0] } ?? CommandResult(status: 0)
    }

    private func record(_ line: [String]) {
        lock.lock(); defer { lock.unlock() }
        log.append(line)
    }

    var commands: [[String]] {
        lock.lock(); defer { lock.unlock() }
        return log
    }
}

/// One test cluster on the local provider, under a temporary root: always torn down.
final class LocalTestCluster: Sendable {
    let root: TemporaryDirectory
    let keyDirectory: TemporaryDirectory
    let privateKey: String
    let provider: LocalProvider
    let access: AccessRequest
    let progress = CapturedProgress()

    init(user: String = "root") throws {
        try requireRoot()
        root = try TemporaryDirectory("cloudc-local-root")
        keyDirectory = try TemporaryDirectory("cloudc-local-key")
        privateKey = try makeSSHKey(in: keyDirectory.path)
        let publicKey = try String(contentsOfFile: privateKey + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        provider = LocalProvider(cloudName: "test", settings: LocalSettings(root: root.path), progress: progress)
        access = AccessRequest(cluster: "lt-" + ClusterState.newIncarnation().prefix(6), incarnation: ClusterState.newIncarnation(),
                               sshFrom: "0.0.0.0/0", publicKey: publicKey, loginUser: user)
    }

    func createResources() async throws -> [ResourceRecord] {
        var made: [ResourceRecord] = []
        for planned in provider.plannedResources(for: access) {
            made.append(try await provider.create(planned, for: access))
        }
        return made
    }

    func request(group: String, nodes: [String], token: String, resources: [ResourceRecord]) -> LaunchRequest {
        LaunchRequest(cluster: access.cluster, incarnation: access.incarnation,
                      group: NodeGroupSpec(name: group, count: nodes.count, flavor: "container"),
                      nodes: nodes, token: token, image: "debian-12", access: access, resources: resources)
    }

    /// Terminates every node and deletes both resources; safe to call twice.
    func tearDown() async throws {
        let ids = try await provider.instances(cluster: access.cluster, incarnation: access.incarnation).map(\.id)
        try await provider.terminate(ids)
        for resource in provider.plannedResources(for: access).reversed() {
            try await provider.delete(resource)
        }
    }

    /// Runs `body`, then tears the cluster down whatever happened.
    func run(_ body: (LocalTestCluster) async throws -> Void) async throws {
        do {
            try await body(self)
        } catch {
            try? await tearDown()
            throw error
        }
        try await tearDown()
    }

    var probe: SSHProbe { SSHProbe(privateKey: privateKey, user: access.loginUser) }
    func waitForSSH(_ ip: String) async throws -> String { try await probe.waitForSSH(ip) }
    func ssh(_ ip: String, _ command: String, user: String? = nil) async throws -> CommandResult {
        try await probe.ssh(ip, command, user: user)
    }
    func sshOK(_ ip: String, _ command: String, user: String? = nil) async throws -> String {
        try await probe.sshOK(ip, command, user: user)
    }
}

/// OpenSSH's ssh client with a test key, as a user would log in.
struct SSHProbe: Sendable {
    let privateKey: String
    let user: String
    let host = ProcessHostCommands()

    /// `ssh user@ip command`; the result, whatever its status.
    func ssh(_ ip: String, _ command: String, user: String? = nil) async throws -> CommandResult {
        try await host.execute("ssh", [
            "-i", privateKey, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=3", "-o", "LogLevel=ERROR",
            "\(user ?? self.user)@\(ip)", command,
        ])
    }

    /// Retries `ssh ip hostname` until sshd answers (up to `timeout` s); returns what it printed.
    func waitForSSH(_ ip: String, timeout: Double = 60) async throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var last = CommandResult(status: -1)
        while Date() < deadline {
            last = try await ssh(ip, "hostname")
            if last.status == 0 { return last.stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
            try await Task.sleep(nanoseconds: 500_000_000)
        }
        throw PeerError("no SSH to \(ip) within \(Int(timeout)) s: \(last.stderr)")
    }

    /// Must succeed; its stdout, trimmed.
    func sshOK(_ ip: String, _ command: String, user: String? = nil) async throws -> String {
        let result = try await ssh(ip, command, user: user)
        guard result.status == 0 else { throw PeerError("ssh \(ip) '\(command)' failed (\(result.status)): \(result.stderr)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// What the machine shows of a test root: nspawn processes, mounts, cc- links, folders.
enum HostView {
    static func nspawnProcesses(under path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard Int(entry) != nil, let data = ProcFile.data("/proc/\(entry)/cmdline") else { return nil }
            let line = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
            return line.contains("systemd-nspawn") && line.contains(path) ? line : nil
        }
    }

    /// The cgroup (of the unified hierarchy, as /proc/PID/cgroup says) of each node's init: the
    /// child of a systemd-nspawn whose command line names `path`.
    static func nodeInitCgroups(under path: String) -> [String] {
        let pids = entries("/proc").compactMap { pid_t($0) }
        let nspawns = Set(pids.filter { pid in
            let line = (ProcFile.data("/proc/\(pid)/cmdline") ?? Data()).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return line.first?.hasSuffix("systemd-nspawn") == true && line.contains { $0.contains(path) }
        })
        return pids.compactMap { pid in
            guard let stat = ProcFile.text("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")"),
                  let parent = stat[stat.index(after: close)...].split(separator: " ").dropFirst().first.flatMap({ pid_t($0) }),
                  nspawns.contains(parent) else { return nil }
            return ProcFile.text("/proc/\(pid)/cgroup")?.split(separator: "\n").first { $0.hasPrefix("0::") }.map(String.init)
        }
    }

    /// The processes that have `path` as their root (compared by device and inode).
    static func processes(rootedAt path: String) -> [pid_t] {
        var target = stat()
        guard stat(path, &target) == 0 else { return [] }
        return HostView.entries("/proc").compactMap { entry in
            var info = stat()
            guard let pid = pid_t(entry), stat("/proc/\(entry)/root", &info) == 0,
                  info.st_dev == target.st_dev, info.st_ino == target.st_ino else { return nil }
            return pid
        }
    }

    /// Whether `pid` still runs (a zombie does not count).
    static func isRunning(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        return !(stat.split(separator: ")").last?.trimmingCharacters(in: .whitespaces).hasPrefix("Z") ?? true)
    }

    static func mounts(under path: String) -> [String] {
        let text = ProcFile.text("/proc/mounts") ?? ""
        return text.split(separator: "\n").map(String.init).filter { $0.contains(path) }
    }

    static func links() throws -> [String] {
        let run = try Run.program("/usr/sbin/ip", ["-o", "link"])
        return run.stdout.split(separator: "\n").map(String.init)
    }

    static func entries(_ path: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    }
}

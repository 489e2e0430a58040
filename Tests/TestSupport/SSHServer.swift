import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// OpenSSH's sshd on 127.0.0.1, run by the test from its own directory: its own config,
/// host key, authorized_keys and pid file. Stopped by PID with SIGKILL.
public final class SSHServer: Sendable {
    public let port: Int
    public let directory: String
    /// The host key's private half (its public half is `hostKeyPath + ".pub"`).
    public let hostKeyPath: String
    let daemon: Daemon
    let pidFile: String

    /// The user tests log in as: the one running them (root in CI, which the owner tests need).
    public static var user: String {
        guard let entry = getpwuid(getuid()), let name = entry.pointee.pw_name else { return "root" }
        return String(cString: name)
    }

    /// Starts sshd on `port` (a free one when nil), allowing the public keys in
    /// `authorizedKeys` (paths of `.pub` files). `hostKeyName` picks the host key file in
    /// `directory`, generated when missing: a new name is a new host key.
    /// `alsoListenOn`: more loopback addresses (127.0.0.2, …) for a test that needs a second "host".
    /// `extraConfig`: more sshd_config lines (`SetEnv PATH=…` for the sessions).
    public init(directory: String, authorizedKeys: [String], port: Int? = nil, hostKeyName: String = "ssh_host_ed25519_key",
                alsoListenOn: [String] = [], extraConfig: [String] = []) async throws {
        let sshd = "/usr/sbin/sshd"
        guard FileManager.default.isExecutableFile(atPath: sshd) else {
            throw PeerError("\(sshd) is missing: apt-get install openssh-server (scripts/install-deps.sh does this)")
        }
        // sshd refuses to start without its privilege separation directory.
        if !FileManager.default.fileExists(atPath: "/run/sshd") {
            do {
                try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o755])
            } catch {
                throw PeerError("sshd needs /run/sshd and it cannot be created (\(error)); run the tests as root")
            }
        }
        let port = try port ?? freeLocalPort()
        let pidFile = "\(directory)/sshd-\(port).pid"
        let hostKey = directory + "/" + hostKeyName
        if !FileManager.default.fileExists(atPath: hostKey) {
            let made = try Run.program("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "test-host", "-f", hostKey])
            guard made.status == 0 else { throw PeerError("ssh-keygen for the host key failed: \(made.stderr)") }
        }
        var keys = ""
        for path in authorizedKeys { keys += try String(contentsOfFile: path, encoding: .utf8) }
        let authorized = directory + "/authorized_keys"
        try keys.write(toFile: authorized, atomically: true, encoding: .utf8)
        let config = directory + "/sshd_config-\(port)"
        try """
            Port \(port)
            ListenAddress 127.0.0.1
            \(alsoListenOn.map { "ListenAddress \($0)" }.joined(separator: "\n"))
            HostKey \(hostKey)
            PidFile \(pidFile)
            AuthorizedKeysFile \(authorized)
            UsePAM no
            StrictModes no
            PermitRootLogin prohibit-password
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            MaxStartups 100
            Subsystem sftp /usr/lib/openssh/sftp-server
            LogLevel VERBOSE
            \(extraConfig.joined(separator: "\n"))

            """.write(toFile: config, atomically: true, encoding: .utf8)
        let log = directory + "/sshd-\(port)-\(hostKeyName).log"
        let daemon = try Daemon.closingDescriptors(sshd, ["-D", "-e", "-f", config], logPath: log)
        _ = try await daemon.waitUntilReady("sshd on port \(port) (is the test running as root?)", seconds: 5) {
            daemon.log.contains("Server listening on 127.0.0.1 port \(port)") ? true : nil
        }
        self.port = port
        self.directory = directory
        self.hostKeyPath = hostKey
        self.daemon = daemon
        self.pidFile = pidFile
    }

    public var log: String { daemon.log }

    /// Kills sshd by PID with SIGKILL, then its shell, and waits until sshd is gone (its port free).
    public func stop() {
        let text = (try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? ""
        if let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1 {
            kill(pid, SIGKILL)
            for _ in 0..<100 where Self.isAlive(pid) { usleep(20_000) }
        }
        daemon.stop()
    }

    /// Running, and not yet a zombie (a zombie holds no sockets).
    private static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return !stat[close...].hasPrefix(") Z")
    }
}

extension Daemon {
    /// For a daemon that closes every inherited descriptor when it starts (sshd).
    /// Foundation's Process takes that for the child's exit and blocks in waitpid, after which
    /// no other child's exit is noticed. So a shell holds the descriptor and waits; the daemon
    /// dies with the shell (pdeathsig), so stopping the shell by PID stops both. Not for
    /// set-group-ID programs (ssh-agent): exec clears their pdeathsig.
    public static func closingDescriptors(_ path: String, _ arguments: [String], logPath: String) throws -> Daemon {
        let quoted = ([path] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        return try Daemon("/bin/sh", ["-c", "/usr/bin/setpriv --pdeathsig KILL \(quoted.joined(separator: " ")) </dev/null & wait"],
                          environment: ["PATH": "/usr/sbin:/usr/bin:/bin"], logPath: logPath)
    }
}

import CloudcCore
import Foundation

/// Where an SSH server listens, and as whom to log in.
public struct SSHEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    /// The host whose sshd connects to this one (a cluster's frontend, for nodes without a
    /// public address): nil to connect directly.
    public var jump: SSHJump?

    public init(host: String, port: Int = 22, user: String, jump: SSHJump? = nil) {
        self.host = host
        self.port = port
        self.user = user
        self.jump = jump
    }

    /// A node's sshd as `route` reaches it, logging in as the route's user (else `user`) on both hops.
    public init(route: NodeRoute, user: String) {
        let login = route.user ?? user
        self.init(host: route.address, port: route.port, user: login,
                  jump: route.jump.map { SSHJump(host: $0, port: route.jumpPort, user: route.jumpUser ?? login) })
    }

    /// `user@host:port`, for messages (`… via user@frontend:22` through a jump host).
    public var description: String {
        "\(user)@\(hostAndPort)" + (jump.map { " via \($0.endpoint)" } ?? "")
    }

    /// `host:port` (`[v6]:port` for IPv6 literals).
    var hostAndPort: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A jump host: the sshd that opens the TCP connection to the target (OpenSSH's ProxyJump),
/// logged into with the same identity; its host key is checked against the same known_hosts.
public struct SSHJump: Sendable, Hashable {
    public var host: String
    public var port: Int
    public var user: String

    public init(host: String, port: Int = 22, user: String) {
        self.host = host
        self.port = port
        self.user = user
    }

    public var endpoint: SSHEndpoint { SSHEndpoint(host: host, port: port, user: user) }
}

/// The key a session logs in with.
///
/// Keep one value for all the sessions that use the key: a passphrase typed at the
/// terminal is remembered by the value (and its copies), so it is asked for once, not
/// once per node.
public struct SSHIdentity: Sendable {
    public var privateKeyPath: String
    /// The matching `.pub` file; libssh2 derives the public key from the private one when nil.
    public var publicKeyPath: String?
    /// The private key's passphrase. When nil and the key is encrypted, ssh-agent
    /// (`SSH_AUTH_SOCK`) is tried, then a prompt on the terminal when there is one.
    public var passphrase: Secret?

    /// Shared by every copy of this value: what was typed at the prompt.
    let prompted = PromptedPassphrase()
    /// Where ssh-agent listens: `SSH_AUTH_SOCK` when the value was made (tests change it).
    var agentSocket: String? = ProcessInfo.processInfo.environment["SSH_AUTH_SOCK"]
    /// Asks for the passphrase: on the terminal, when there is one (tests change it).
    var askPassphrase: @Sendable (String) -> Secret? = { TerminalPrompt.readSecret($0) }

    public init(privateKeyPath: String, publicKeyPath: String? = nil, passphrase: Secret? = nil) {
        self.privateKeyPath = privateKeyPath
        self.publicKeyPath = publicKeyPath
        self.passphrase = passphrase
    }
}

/// What a remote command left behind. A non-zero `status` is not an error: callers decide.
public struct ExecResult: Sendable, Equatable {
    /// The exit status; 128 + n when the command was killed by signal n (255 for a signal
    /// without a known number).
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// A piece of a running command's output, as it arrives. Pieces never split a UTF-8 character.
public enum OutputChunk: Sendable, Equatable {
    case stdout(String)
    case stderr(String)
}

/// A shell on one node: what the configurator needs. `SSHSession` is the real one; tests
/// can use an in-memory fake.
public protocol RemoteShell: Sendable {
    var endpoint: SSHEndpoint { get }

    /// Runs `command` with the login shell of `endpoint.user`. `stdin`, when given, is written
    /// to the command and then closed; without it the command sees an empty stdin.
    /// `onOutput` is called with each piece of output as it arrives (on the session's own
    /// thread, one piece at a time: keep it short).
    /// Throws only when the connection fails; the command's own failure is in `status`.
    func exec(_ command: String, stdin: [UInt8]?, onOutput: (@Sendable (OutputChunk) -> Void)?) async throws -> ExecResult

    /// Writes `data` to `path` atomically (a temporary file in the same directory, renamed over
    /// the target), with permission bits `mode` and, when given, owner `owner` (`user` or
    /// `user:group`). The directory must exist.
    func upload(_ data: [UInt8], to path: String, mode: Int32, owner: String?) async throws

    /// The whole content of the file at `path`. A missing file throws a `.notFound` CloudcError.
    func download(_ path: String) async throws -> [UInt8]

    /// Ends the session. Later calls throw.
    func close() async
}

extension RemoteShell {
    public func exec(_ command: String) async throws -> ExecResult {
        try await exec(command, stdin: nil, onOutput: nil)
    }
}

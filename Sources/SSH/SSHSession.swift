import CloudcCore

/// An SSH connection to one node, over libssh2.
///
/// Each session owns one thread; every libssh2 call of the session runs there, one at a time,
/// in the order the calls were made. Cancelling a task waiting on a session closes the
/// session: later calls throw.
public final class SSHSession: RemoteShell, @unchecked Sendable {
    public let endpoint: SSHEndpoint
    private let thread: JobThread
    private let cancelled = CancelFlag()
    /// The libssh2 side; only jobs on `thread` touch it.
    private let connection = ThreadConfined<Connection?>(nil)

    private init(endpoint: SSHEndpoint) {
        self.endpoint = endpoint
        self.thread = JobThread(name: "cloudc-ssh \(endpoint)")
    }

    deinit {
        // Frees the libssh2 handles on the session's thread, after any job still queued.
        let connection = self.connection
        thread.submit {
            connection.value?.close()
            connection.value = nil
        }
        thread.stop()
    }

    /// Connects to `endpoint`, checks its host key against `knownHosts` (recording it on first
    /// contact), and logs in with `identity`. `timeout` bounds the TCP connection, the
    /// handshake and the login, and each later step (at least 30 s there) except a running
    /// command, which may take as long as it takes.
    public static func connect(to endpoint: SSHEndpoint, identity: SSHIdentity, knownHosts: KnownHosts,
                               timeout: Double = 30) async throws -> SSHSession {
        let session = SSHSession(endpoint: endpoint)
        let cancelled = session.cancelled
        try await session.run { connection in
            connection.value = try Connection(endpoint: endpoint, identity: identity, knownHosts: knownHosts,
                                              timeout: timeout, cancelled: cancelled)
        }
        return session
    }

    public func exec(_ command: String, stdin: [UInt8]?,
                     onOutput: (@Sendable (OutputChunk) -> Void)?) async throws -> ExecResult {
        let endpoint = self.endpoint
        return try await run { connection in
            guard let open = connection.value else { throw Self.closedError(endpoint) }
            return try open.exec(command, stdin: stdin, onOutput: onOutput)
        }
    }

    /// See `RemoteShell.upload`. The directory of `path` must exist: nothing is created.
    public func upload(_ data: [UInt8], to path: String, mode: Int32, owner: String? = nil) async throws {
        let endpoint = self.endpoint
        try await run { connection in
            guard let open = connection.value else { throw Self.closedError(endpoint) }
            try open.upload(data, to: path, mode: mode, owner: owner)
        }
    }

    /// See `RemoteShell.download`.
    public func download(_ path: String) async throws -> [UInt8] {
        let endpoint = self.endpoint
        return try await run { connection in
            guard let open = connection.value else { throw Self.closedError(endpoint) }
            return try open.download(path)
        }
    }

    public func close() async {
        let connection = self.connection
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let accepted = thread.submit {
                connection.value?.close()
                connection.value = nil
                continuation.resume()
            }
            if !accepted { continuation.resume() }
        }
        thread.stop()
    }

    /// Runs `body` on the session's thread. A cancelled caller cancels the session: the job
    /// stops at its next wait and the connection is dropped.
    private func run<T: Sendable>(_ body: @escaping @Sendable (ThreadConfined<Connection?>) throws -> T) async throws -> T {
        let connection = self.connection
        let cancelled = self.cancelled
        let endpoint = self.endpoint
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let accepted = thread.submit {
                    do {
                        // Cancelled before the job ran: this call ends the session. Later
                        // calls find no connection and say the session is closed.
                        if cancelled.isCancelled && connection.value != nil {
                            connection.value = nil
                            throw CancellationError()
                        }
                        continuation.resume(returning: try body(connection))
                    } catch {
                        if error is CancellationError { connection.value = nil }
                        continuation.resume(throwing: error)
                    }
                }
                if !accepted { continuation.resume(throwing: Self.closedError(endpoint)) }
            }
        } onCancel: {
            cancelled.cancel()
        }
    }

    private static func closedError(_ endpoint: SSHEndpoint) -> CloudcError {
        CloudcError(.connection, "the SSH session to \(endpoint) is closed",
                    fix: "open a new session: one ends with close() or when a call on it is cancelled")
    }
}

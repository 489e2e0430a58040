import CLibSSH2
import CloudcCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// libssh2's global state, set up once (a `static let` is initialised exactly once, thread-safely).
enum LibSSH2 {
    static let initStatus: Int32 = libssh2_init(0)

    static func ensureInitialised() throws {
        guard initStatus == 0 else {
            throw CloudcError(.internalError, "libssh2 could not initialise its crypto backend (libssh2_init returned \(initStatus))",
                              fix: "reinstall libssh2 (apt-get install --reinstall libssh2-1)")
        }
    }
}

/// How long a libssh2 call may wait for the network: until `deadline`, or for ever when nil.
typealias Deadline = ContinuousClock.Instant?

func deadline(after seconds: Double) -> ContinuousClock.Instant {
    .now + .milliseconds(Int64(max(0, seconds) * 1000))
}

/// One LIBSSH2_SESSION and the TCP socket under it. The session runs non-blocking: every call
/// that says EAGAIN is repeated after `poll` on the socket, so each wait has a deadline and
/// notices cancellation. Used only on its session's `JobThread`.
final class SessionHandle {
    let raw: OpaquePointer
    let socket: Int32
    /// `user@host:port`, for messages.
    let peer: String
    let cancelled: CancelFlag

    /// Takes ownership of `socket`: it is closed here when the session cannot be made, and
    /// in `deinit` otherwise.
    init(socket: Int32, peer: String, cancelled: CancelFlag) throws {
        do {
            try LibSSH2.ensureInitialised()
        } catch {
            _ = close(socket)
            throw error
        }
        guard let raw = cloudc_libssh2_session_init() else {
            _ = close(socket)
            throw CloudcError(.internalError, "libssh2 could not allocate a session for \(peer)")
        }
        self.raw = raw
        self.socket = socket
        self.peer = peer
        self.cancelled = cancelled
        libssh2_session_set_blocking(raw, 0)
        // Traffic every 30 s while a command is silent, so NAT gateways and firewalls keep
        // the connection (AWS drops idle ones after 350 s).
        libssh2_keepalive_config(raw, 1, 30)
        // Only the blocking clean-up calls (`blocking`) use this bound.
        libssh2_session_set_timeout(raw, 5000)
    }

    deinit {
        _ = blocking { libssh2_session_free(raw) }
        _ = close(socket)
    }

    /// Runs a clean-up call (free, shutdown) in blocking mode: `deinit` cannot loop on EAGAIN.
    /// libssh2 bounds each such call by the session timeout (5 s).
    func blocking<T>(_ body: () -> T) -> T {
        libssh2_session_set_blocking(raw, 1)
        defer { libssh2_session_set_blocking(raw, 0) }
        return body()
    }

    /// libssh2's code and message for the call that just failed. Call it right after the failure.
    func lastError() -> (code: Int32, message: String) {
        var pointer: UnsafeMutablePointer<CChar>?
        var length: Int32 = 0
        let code = libssh2_session_last_error(raw, &pointer, &length, 0)
        guard let pointer, length > 0 else { return (code, "") }
        let bytes = UnsafeRawBufferPointer(start: pointer, count: Int(length))
        return (code, String(decoding: bytes, as: UTF8.self))
    }

    /// A `CloudcError` whose cause is libssh2's account of the call that just failed.
    func error(_ code: CloudcError.Code, _ message: String, fix: String? = nil) -> CloudcError {
        let last = lastError()
        let cause = last.message.isEmpty ? "libssh2 error \(last.code)" : "\(last.message) (libssh2 error \(last.code))"
        return CloudcError(code, message, fix: fix, cause: cause)
    }

    /// Calls `body` until it stops answering EAGAIN, waiting for the socket in between.
    /// Returns the final result: ≥ 0 on success, a libssh2 error code otherwise (whose
    /// message `error(_:_:fix:)` reads next).
    func retry(_ what: @autoclosure () -> String, until deadline: Deadline, _ body: () -> Int32) throws -> Int32 {
        while true {
            let rc = body()
            guard rc == LIBSSH2_ERROR_EAGAIN else { return rc }
            try waitForSocket(what(), until: deadline)
        }
    }

    /// `retry` for the calls that return a handle (nil with last errno EAGAIN means "again").
    func retry<Handle>(_ what: @autoclosure () -> String, until deadline: Deadline, _ body: () -> Handle?) throws -> Handle? {
        while true {
            if let handle = body() { return handle }
            guard libssh2_session_last_errno(raw) == LIBSSH2_ERROR_EAGAIN else { return nil }
            try waitForSocket(what(), until: deadline)
        }
    }

    /// Waits until the socket is ready in the direction libssh2 is blocked on; throws when
    /// `deadline` passes first. With `pause`, returns after at most that long anyway (a loop
    /// that has other things to do, such as keepalives).
    func waitForSocket(_ what: @autoclosure () -> String, until deadline: Deadline, pause: Duration? = nil) throws {
        let directions = libssh2_session_block_directions(raw)
        var events: Int16 = 0
        if directions & LIBSSH2_SESSION_BLOCK_INBOUND != 0 { events |= Int16(POLLIN) }
        if directions & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0 { events |= Int16(POLLOUT) }
        if events == 0 { events = Int16(POLLIN) }
        let resume = pause.map { ContinuousClock.now + $0 }
        // Short slices, so that cancellation is noticed within a tenth of a second.
        let slice = Duration.milliseconds(100)
        while true {
            if cancelled.isCancelled {
                // The session is being dropped: let the clean-up calls fail at once instead of
                // each waiting for the node.
                _ = shutdown(socket, Int32(SHUT_RDWR))
                throw CancellationError()
            }
            let now = ContinuousClock.now
            if let resume, now >= resume { return }
            var wait = slice
            if let deadline {
                let left = deadline - now
                guard left > .zero else {
                    throw CloudcError(.timeout, "\(what()) on \(peer) timed out",
                                      fix: "check that the node is running and reachable, then try again")
                }
                wait = min(left, wait)
            }
            var descriptor = pollfd(fd: socket, events: events, revents: 0)
            let ready = poll(&descriptor, 1, Int32(max(1, (wait.seconds * 1000).rounded(.up))))
            if ready > 0 { return }
            if ready < 0 && errno != EINTR {
                let reason = String(cString: strerror(errno))
                throw CloudcError(.connection, "\(what()) on \(peer) failed: poll: \(reason)")
            }
        }
    }
}

/// A channel (a command, or the SFTP subsystem). Keeps its session alive.
final class ChannelHandle {
    let raw: OpaquePointer
    let session: SessionHandle

    init(raw: OpaquePointer, session: SessionHandle) {
        self.raw = raw
        self.session = session
    }

    deinit {
        _ = session.blocking { libssh2_channel_free(raw) }
    }
}

/// An SFTP subsystem on a session. Keeps its session alive.
final class SFTPHandle {
    let raw: OpaquePointer
    let session: SessionHandle

    init(raw: OpaquePointer, session: SessionHandle) {
        self.raw = raw
        self.session = session
    }

    deinit {
        _ = session.blocking { libssh2_sftp_shutdown(raw) }
    }
}

/// An open remote file. `close()` reports errors; `deinit` closes what was left open.
final class SFTPFileHandle {
    let raw: OpaquePointer
    let sftp: SFTPHandle
    private var isOpen = true

    init(raw: OpaquePointer, sftp: SFTPHandle) {
        self.raw = raw
        self.sftp = sftp
    }

    /// Closes the file; libssh2's result code (call `error` right after a failure).
    func close(until deadline: Deadline) throws -> Int32 {
        isOpen = false
        return try sftp.session.retry("closing a remote file", until: deadline) { libssh2_sftp_close_handle(raw) }
    }

    deinit {
        if isOpen { _ = sftp.session.blocking { libssh2_sftp_close_handle(raw) } }
    }
}

/// A connection to ssh-agent. Keeps its session alive.
final class AgentHandle {
    let raw: OpaquePointer
    let session: SessionHandle
    private var connected = false

    init?(session: SessionHandle) {
        guard let raw = libssh2_agent_init(session.raw) else { return nil }
        self.raw = raw
        self.session = session
    }

    func connect() -> Bool {
        connected = libssh2_agent_connect(raw) == 0
        return connected
    }

    deinit {
        if connected { _ = libssh2_agent_disconnect(raw) }
        libssh2_agent_free(raw)
    }
}

import CLibSSH2
import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A TCP connection to a node that only a jump host can reach (OpenSSH's ProxyJump): an SSH
/// session to the jump host opens a direct-tcpip channel to the node's sshd, and libssh2's
/// session to the node runs over one end of a socket pair whose other end a thread of its own
/// carries to and from that channel. Closing the node's session closes its end; the thread then
/// closes the channel and the session to the jump host.
enum Tunnel {
    /// The socket to give the node's session, and the thread that carries it. The jump host is
    /// logged into and its host key checked exactly as a direct connection's would be; `timeout`
    /// bounds that and the channel.
    static func open(to target: SSHEndpoint, via jump: SSHJump, identity: SSHIdentity, knownHosts: KnownHosts,
                     timeout: Double, cancelled: CancelFlag) throws -> (socket: Int32, pump: TunnelPump) {
        let outer = try Connection(endpoint: jump.endpoint, identity: identity, knownHosts: knownHosts,
                                   timeout: timeout, cancelled: cancelled)
        let channel = try outer.directTCPIP(to: target, until: deadline(after: timeout))
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            let reason = String(cString: strerror(errno))
            outer.close()
            throw CloudcError(.internalError, "cannot make a socket pair for the tunnel to \(target)", cause: reason)
        }
        _ = fcntl(ends[1], F_SETFL, fcntl(ends[1], F_GETFL) | O_NONBLOCK)
        let pump = TunnelPump(connection: outer, channel: channel, socket: ends[1], cancelled: cancelled)
        let thread = Thread { pump.run() }
        thread.name = "cloudc-tunnel \(target)"
        thread.start()
        return (ends[0], pump)
    }
}

extension Connection {
    /// Asks the jump host's sshd to connect to `target`'s host and port.
    func directTCPIP(to target: SSHEndpoint, until limit: ContinuousClock.Instant) throws -> ChannelHandle {
        let raw = try session.retry("opening a tunnel to \(target.hostAndPort)", until: limit) {
            libssh2_channel_direct_tcpip_ex(session.raw, target.host, Int32(target.port), "127.0.0.1", 22)
        }
        guard let raw else {
            let reason = session.lastError().message
            if reason.contains("prohibited") {
                throw session.error(.config, "\(peer) does not forward connections to \(target.hostAndPort)",
                                    fix: "allow TCP forwarding in the sshd of \(endpoint.host) (AllowTcpForwarding yes, Debian's default)")
            }
            throw session.error(.connection, "\(peer) cannot connect to \(target.hostAndPort)",
                                fix: "the node may still be booting; otherwise check that it runs and that the cluster's "
                                    + "firewall lets its members reach each other's port \(target.port)")
        }
        return ChannelHandle(raw: raw, session: session)
    }
}

/// Carries bytes between a socket and a channel until either side closes. Runs on its own
/// thread, the only one that touches the jump host's session once the tunnel is open.
final class TunnelPump: @unchecked Sendable {
    private let connection: Connection
    private var channel: ChannelHandle?
    private let socket: Int32
    private let cancelled: CancelFlag
    private let finished = DispatchSemaphore(value: 0)
    /// Bytes read from one side and not yet taken by the other, at most this much each way.
    private static let window = 256 * 1024

    init(connection: Connection, channel: ChannelHandle, socket: Int32, cancelled: CancelFlag) {
        self.connection = connection
        self.channel = channel
        self.socket = socket
        self.cancelled = cancelled
    }

    /// Waits for `run` to end (its clean-up included), up to `seconds`.
    func waitUntilFinished(seconds: Double) {
        if finished.wait(timeout: .now() + seconds) == .success { finished.signal() }
    }

    func run() {
        defer { finished.signal() }   // last: after the clean-up below
        defer {
            _ = close(socket)
            channel = nil
            connection.close()
        }
        guard let channel = channel?.raw else { return }
        let session = connection.session
        var toNode: [UInt8] = [], toLocal: [UInt8] = []
        var localClosed = false, nodeClosed = false, localShut = false
        var buffer = [UInt8](repeating: 0, count: 32 * 1024)
        while !cancelled.isCancelled {
            var moved = false
            // Node → local.
            if !nodeClosed && toLocal.count < Self.window {
                let n = buffer.withUnsafeMutableBufferPointer { pointer in
                    pointer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: pointer.count) {
                        libssh2_channel_read_ex(channel, 0, $0, pointer.count)
                    }
                }
                if n > 0 {
                    toLocal.append(contentsOf: buffer[0..<n])
                    moved = true
                } else if n == 0 || n == LIBSSH2_ERROR_EAGAIN {
                    if libssh2_channel_eof(channel) != 0 { nodeClosed = true; moved = true }
                } else {
                    nodeClosed = true
                }
            }
            if !toLocal.isEmpty {
                // send, not write: the node's session may have closed its end, and a write there
                // would raise SIGPIPE, which ends the whole process.
                let n = toLocal.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n > 0 {
                    toLocal.removeFirst(n)
                    moved = true
                } else if n < 0 && errno != EAGAIN && errno != EINTR {
                    return   // the node's session is gone
                }
            }
            if nodeClosed && toLocal.isEmpty && !localShut {
                _ = shutdown(socket, Int32(SHUT_WR))
                localShut = true
            }
            // Local → node.
            if !localClosed && toNode.count < Self.window {
                let n = buffer.withUnsafeMutableBytes { read(socket, $0.baseAddress, $0.count) }
                if n > 0 {
                    toNode.append(contentsOf: buffer[0..<n])
                    moved = true
                } else if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) {
                    localClosed = true
                    moved = true
                }
            }
            if !toNode.isEmpty {
                let n = toNode.withUnsafeBytes { pointer in
                    pointer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: pointer.count) {
                        libssh2_channel_write_ex(channel, 0, $0, pointer.count)
                    }
                }
                if n > 0 {
                    toNode.removeFirst(n)
                    moved = true
                } else if n != LIBSSH2_ERROR_EAGAIN && n < 0 {
                    return   // the jump host dropped the channel: the node's session sees the socket close
                }
            }
            // The node's session has ended (it said goodbye before closing): nothing more to carry.
            if localClosed && toNode.isEmpty { return }
            if nodeClosed && localShut && localClosed { return }
            if moved { continue }
            var next: Int32 = 0
            _ = libssh2_keepalive_send(session.raw, &next)
            wait(session: session, forLocal: !localClosed && toNode.count < Self.window, localWritable: !toLocal.isEmpty)
        }
    }

    /// Up to a tenth of a second for either socket to be ready.
    private func wait(session: SessionHandle, forLocal: Bool, localWritable: Bool) {
        let directions = libssh2_session_block_directions(session.raw)
        var remoteEvents = Int16(POLLIN)
        if directions & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0 { remoteEvents |= Int16(POLLOUT) }
        var localEvents: Int16 = 0
        if forLocal { localEvents |= Int16(POLLIN) }
        if localWritable { localEvents |= Int16(POLLOUT) }
        var descriptors = [pollfd(fd: session.socket, events: remoteEvents, revents: 0),
                           pollfd(fd: socket, events: localEvents, revents: 0)]
        _ = poll(&descriptors, 2, 100)
    }
}

import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opens a TCP connection with a deadline: a non-blocking `connect`, then `poll`.
/// Runs on a session's `JobThread` (name resolution blocks).
enum TCPConnect {
    static func open(_ endpoint: SSHEndpoint, until deadline: ContinuousClock.Instant, timeout: Double,
                     cancelled: CancelFlag) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_protocol = Int32(IPPROTO_TCP)
        var list: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(endpoint.host, String(endpoint.port), &hints, &list)
        guard resolved == 0, let first = list else {
            let reason = String(cString: gai_strerror(resolved))
            throw CloudcError(.connection, "cannot resolve the node address \(endpoint.host): \(reason)",
                              fix: "check the node's address in the cluster state and this machine's DNS")
        }
        defer { freeaddrinfo(first) }

        var lastErrno: Int32 = ECONNREFUSED
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let address = node {
            node = address.pointee.ai_next
            let fd = socket(address.pointee.ai_family, address.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue),
                            address.pointee.ai_protocol)
            guard fd >= 0 else {
                lastErrno = errno
                continue
            }
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            var status = Glibc.connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen)
            if status != 0 && errno == EINPROGRESS {
                status = try awaitConnected(fd, until: deadline, cancelled: cancelled, endpoint: endpoint, timeout: timeout)
            } else if status != 0 {
                status = errno
            }
            if status == 0 {
                configureKeepalive(fd)
                return fd
            }
            lastErrno = status
            _ = close(fd)
        }
        throw failure(lastErrno, endpoint)
    }

    /// 0 once connected, the socket's error otherwise. Closes `fd` before throwing.
    private static func awaitConnected(_ fd: Int32, until deadline: ContinuousClock.Instant, cancelled: CancelFlag,
                                       endpoint: SSHEndpoint, timeout: Double) throws -> Int32 {
        while true {
            if cancelled.isCancelled {
                _ = close(fd)
                throw CancellationError()
            }
            let left = deadline - .now
            guard left > .zero else {
                _ = close(fd)
                throw CloudcError(.timeout, "connecting to \(endpoint.hostAndPort) timed out after \(seconds(timeout)) s",
                                  fix: "check that the node is running and that its firewall or security group lets this machine reach port \(endpoint.port)")
            }
            let slice = Int32(min(100, max(1, (left.seconds * 1000).rounded(.up))))
            var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&descriptor, 1, slice)
            if ready < 0 && errno != EINTR { return errno }
            if ready > 0 {
                var socketError: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &length) == 0 else { return errno }
                return socketError
            }
        }
    }

    /// A dead peer is noticed within a few minutes even while a long command prints nothing.
    private static func configureKeepalive(_ fd: Int32) {
        var on: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, socklen_t(MemoryLayout<Int32>.size))
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        #if os(Linux)
        var idle: Int32 = 60, interval: Int32 = 15, count: Int32 = 8
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, socklen_t(MemoryLayout<Int32>.size))
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, &interval, socklen_t(MemoryLayout<Int32>.size))
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, &count, socklen_t(MemoryLayout<Int32>.size))
        #endif
    }

    private static func failure(_ code: Int32, _ endpoint: SSHEndpoint) -> CloudcError {
        let reason = String(cString: strerror(code))
        switch code {
        case ECONNREFUSED:
            return CloudcError(.connection, "\(endpoint.hostAndPort) refused the SSH connection",
                               fix: "the node may still be booting; otherwise check that sshd runs on it and listens on port \(endpoint.port)",
                               cause: reason)
        case EHOSTUNREACH, ENETUNREACH, EHOSTDOWN, ENETDOWN:
            return CloudcError(.connection, "\(endpoint.hostAndPort) cannot be reached",
                               fix: "check that the node is running and that this machine has a route to its network",
                               cause: reason)
        case ETIMEDOUT:
            return CloudcError(.timeout, "connecting to \(endpoint.hostAndPort) timed out",
                               fix: "check that the node is running and that its firewall or security group lets this machine reach port \(endpoint.port)",
                               cause: reason)
        default:
            return CloudcError(.connection, "cannot connect to \(endpoint.hostAndPort)",
                               fix: "check that the node is running and reachable", cause: reason)
        }
    }
}

/// `12`, `0.5`: seconds for messages.
func seconds(_ value: Double) -> String {
    value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
}

import CloudcCore

/// Connects to a node that may still be booting: retries while sshd refuses, times out or
/// breaks off the handshake, waiting longer between tries, until `waitTimeout`.
/// A changed host key or a refused login is final and never retried.
public struct SSHConnector: Sendable {
    /// Bound of one try (TCP connection, handshake, login), seconds.
    public var connectTimeout: Double
    /// How long to wait for sshd in all, seconds.
    public var waitTimeout: Double
    /// First pause between tries; each pause is 1.5 times the last, up to `maxDelay`.
    public var initialDelay: Double
    public var maxDelay: Double

    public init(connectTimeout: Double = 15, waitTimeout: Double = 300, initialDelay: Double = 1, maxDelay: Double = 10) {
        self.connectTimeout = connectTimeout
        self.waitTimeout = waitTimeout
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
    }

    /// Waits for sshd on `endpoint` and logs in. `progress` hears, after each failed try, what
    /// is still awaited (`waiting for SSH on 10.0.0.5:22: … (12 s of 300 s)`).
    public func waitAndConnect(to endpoint: SSHEndpoint, identity: SSHIdentity, knownHosts: KnownHosts,
                               progress: (@Sendable (String) -> Void)? = nil) async throws -> SSHSession {
        try await waitAndConnect(to: endpoint, progress: progress) { timeout in
            try await SSHSession.connect(to: endpoint, identity: identity, knownHosts: knownHosts, timeout: timeout)
        }
    }

    /// The retry loop, with the connecting step given (tests pass a fake).
    func waitAndConnect<Session: Sendable>(to endpoint: SSHEndpoint, progress: (@Sendable (String) -> Void)?,
                                           attempt: (Double) async throws -> Session) async throws -> Session {
        let clock = ContinuousClock()
        let start = clock.now
        let limit = start + .milliseconds(Int64(waitTimeout * 1000))
        var delay = initialDelay
        var lastFailure: CloudcError?
        while true {
            let left = limit - clock.now
            if let lastFailure, left <= .zero, lastFailure.code == .loginRefused {
                // The user or its key never arrived (a cloud makes them from metadata after boot).
                throw CloudcError(.loginRefused, lastFailure.message + " for \(seconds(waitTimeout)) s",
                                  fix: lastFailure.fix, cause: lastFailure.cause)
            }
            if let lastFailure, left <= .zero {
                throw CloudcError(.timeout, "\(endpoint.hostAndPort) did not accept an SSH login within \(seconds(waitTimeout)) s",
                                  fix: "check that the node \(endpoint.host) is running and has booted (its console log), "
                                      + "and that port \(endpoint.port) is open to this machine",
                                  cause: lastFailure.cause.map { "\(lastFailure.message): \($0)" } ?? lastFailure.message)
            }
            do {
                return try await attempt(max(0.5, min(connectTimeout, left.seconds)))
            } catch let failure as CloudcError where Self.isTransient(failure) {
                lastFailure = failure
                let waited = (clock.now - start).seconds
                progress?("waiting for SSH on \(endpoint.hostAndPort): \(failure.message) (\(Int(waited)) s of \(seconds(waitTimeout)) s)")
                let pause = min(delay, max(0, (limit - clock.now).seconds))
                if pause > 0 { try await Task.sleep(for: .milliseconds(Int64(pause * 1000))) }
                delay = min(maxDelay, delay * 1.5)
            }
        }
    }

    /// A node still booting refuses, times out, or drops the handshake; a young VM refuses the
    /// login until its guest agent or cloud-init has made the user from the instance's keys.
    /// A different host key will not get better by waiting.
    static func isTransient(_ error: CloudcError) -> Bool {
        error.code == .connection || error.code == .timeout || error.code == .loginRefused
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

import Foundation

/// Polls until `check` returns a value, waiting longer between tries, up to `timeout` seconds.
public struct Poller: Sendable {
    public var initialDelay: Double
    public var maxDelay: Double
    public var timeout: Double

    public init(initialDelay: Double = 1, maxDelay: Double = 10, timeout: Double = 900) {
        self.initialDelay = initialDelay; self.maxDelay = maxDelay; self.timeout = timeout
    }

    /// Calls `check` until it returns non-nil; nil after `timeout` seconds.
    public func poll<T: Sendable>(_ check: () async throws -> T?) async throws -> T? {
        let start = Date()
        var delay = initialDelay
        while true {
            if let value = try await check() { return value }
            if Date().timeIntervalSince(start) + delay > timeout { return nil }
            try await Task.sleep(nanoseconds: UInt64(delay * 1_000_000_000))
            delay = min(maxDelay, delay * 1.5)
        }
    }
}

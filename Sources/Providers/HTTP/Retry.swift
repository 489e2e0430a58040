import Foundation

/// Exponential backoff with full jitter (delay drawn from 0...min(cap, base·2ⁿ)).
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var baseDelay: Double
    public var maxDelay: Double

    public init(maxAttempts: Int = 6, baseDelay: Double = 0.5, maxDelay: Double = 20) {
        self.maxAttempts = maxAttempts; self.baseDelay = baseDelay; self.maxDelay = maxDelay
    }

    /// The delay before retry number `attempt` (1 = first retry).
    public func delay(beforeRetry attempt: Int, random: Double = Double.random(in: 0...1)) -> Double {
        let ceiling = min(maxDelay, baseDelay * pow(2, Double(attempt - 1)))
        return ceiling * random
    }

    /// Runs `operation`, retrying while `shouldRetry` says the failure is passing.
    public func run<T: Sendable>(
        shouldRetry: @Sendable (Error) -> Bool,
        _ operation: @Sendable () async throws -> T
    ) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await operation()
            } catch {
                guard attempt < maxAttempts, shouldRetry(error), !Task.isCancelled else { throw error }
                let wait = delay(beforeRetry: attempt)
                try await Task.sleep(nanoseconds: UInt64(wait * 1_000_000_000))
                attempt += 1
            }
        }
    }
}


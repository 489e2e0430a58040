import Foundation

/// Counts calls across tasks.
public final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    public init() {}

    /// The count before this call.
    @discardableResult
    public func next() -> Int { lock.withLock { defer { value += 1 }; return value } }
    public func increment() { next() }
    public var count: Int { lock.withLock { value } }
}

/// Where long-running work reports what it is doing, so a user sees progress while waiting.
public protocol ProgressSink: Sendable {
    func report(_ line: String)
}

/// Drops every line (tests, `--quiet`).
public struct SilentProgress: ProgressSink {
    public init() {}
    public func report(_ line: String) {}
}

import Foundation

/// One value that expires (an access token), shared by every task that asks for it: however many
/// ask at once, one fetch is in flight and all share its answer. From `refreshAt` on a successor
/// is fetched; until `usableUntil` the current value is still handed out meanwhile (the successor
/// arrives in the background), after it callers wait for the new one.
///
/// The states are explicit (as soto-core's `ExpiringValue`): nothing yet, fetching the first,
/// holding one, or holding one while fetching its successor. Google's and Keystone's tokens both
/// live here.
public actor ExpiringCache<Value: Sendable> {
    enum State {
        case empty
        case fetching(Task<Value, Error>)
        case ready(Value)
        case refreshing(Value, Task<Value, Error>)
    }

    var state: State = .empty
    let fetch: @Sendable () async throws -> Value
    let refreshAt: @Sendable (Value) -> Date
    let usableUntil: @Sendable (Value) -> Date
    let clock: @Sendable () -> Date
    /// How many fetches were started, for tests.
    public private(set) var fetches = 0

    public init(clock: @escaping @Sendable () -> Date = { Date() },
                refreshAt: @escaping @Sendable (Value) -> Date, usableUntil: @escaping @Sendable (Value) -> Date,
                fetch: @escaping @Sendable () async throws -> Value) {
        self.clock = clock; self.refreshAt = refreshAt; self.usableUntil = usableUntil; self.fetch = fetch
    }

    public func value() async throws -> Value {
        let now = clock()
        switch state {
        case .empty:
            return try await wait(for: start())
        case .fetching(let task):
            return try await wait(for: task)
        case .ready(let value):
            if now < refreshAt(value) { return value }
            let task = start()
            if now < usableUntil(value) {
                // Still good: hand it out and let the successor arrive in the background.
                Task { _ = try? await self.wait(for: task) }
                return value
            }
            return try await wait(for: task)
        case .refreshing(let value, let task):
            if now < usableUntil(value) { return value }
            return try await wait(for: task)
        }
    }

    /// Forgets the value (the service refused it), so the next call fetches anew. A fetch in
    /// flight for the first value is kept: its answer is new.
    public func invalidate() {
        switch state {
        case .ready, .refreshing: state = .empty
        case .empty, .fetching: break
        }
    }

    /// Starts a fetch and records it (keeping a still-usable value alongside).
    func start() -> Task<Value, Error> {
        fetches += 1
        let fetch = self.fetch
        let task = Task { try await fetch() }
        switch state {
        case .ready(let value), .refreshing(let value, _):
            state = clock() < usableUntil(value) ? .refreshing(value, task) : .fetching(task)
        case .empty, .fetching:
            state = .fetching(task)
        }
        return task
    }

    /// Awaits `task` and settles the state, unless another fetch has replaced it meanwhile.
    func wait(for task: Task<Value, Error>) async throws -> Value {
        do {
            let value = try await task.value
            if isCurrent(task) { state = .ready(value) }
            return value
        } catch {
            if isCurrent(task) {
                if case .refreshing(let old, _) = state { state = .ready(old) } else { state = .empty }
            }
            throw error
        }
    }

    func isCurrent(_ task: Task<Value, Error>) -> Bool {
        switch state {
        case .fetching(let current), .refreshing(_, let current): return current == task
        case .empty, .ready: return false
        }
    }
}

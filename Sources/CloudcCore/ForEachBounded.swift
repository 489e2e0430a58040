/// Runs `body` on every item, at most `limit` at a time, and returns the results in the
/// order of `items`: fan-out over nodes (SSH sessions, cloud calls). The first error cancels the
/// calls still running (an SSH session closes when cancelled) and is thrown once they have ended.
public func forEachBounded<T: Sendable, R: Sendable>(_ items: [T], limit: Int,
                                                      _ body: @Sendable (T) async throws -> R) async throws -> [R] {
    try await withoutActuallyEscaping(body) { body in
        try await withThrowingTaskGroup(of: (Int, R).self) { group in
            var results = [R?](repeating: nil, count: items.count)
            var next = 0
            func startNext() {
                let index = next
                let item = items[index]
                group.addTask { (index, try await body(item)) }
                next += 1
            }
            while next < min(max(1, limit), items.count) { startNext() }
            while let (index, result) = try await group.next() {
                results[index] = result
                if next < items.count { startNext() }
            }
            return results.compactMap { $0 }
        }
    }
}

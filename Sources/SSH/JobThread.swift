import CloudcCore
import Foundation

/// One dedicated thread that runs jobs in order. Every blocking libssh2 call of a session runs
/// here, so the cooperative pool is never blocked, and libssh2 (not thread-safe per session)
/// only ever sees one thread.
final class JobThread: @unchecked Sendable {
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var jobs: [@Sendable () -> Void] = []
    private var stopping = false

    init(name: String) {
        // The thread keeps `self` alive until it has run every job it accepted.
        let thread = Thread { [self] in self.loop() }
        thread.name = name
        thread.start()
    }

    /// Queues `job`; false when the thread is stopping and took nothing.
    @discardableResult
    func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    /// Runs the jobs already queued, then ends the thread.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}

/// Set once, read from any thread: the session was cancelled (and so is closing).
final class CancelFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false

    func cancel() {
        lock.lock(); set = true; lock.unlock()
    }

    var isCancelled: Bool {
        lock.lock(); defer { lock.unlock() }
        return set
    }
}

/// A value that lives on one `JobThread`: only jobs of that thread touch it. The compiler
/// cannot check that; the discipline of running every access as a job does.
final class ThreadConfined<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

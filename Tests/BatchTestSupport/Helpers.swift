// Helpers every test target shares: recognisable errors, bounded waits for an observable
// condition, and the repeat count of the order-sensitive scenarios.
import BatchIPC
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A lock ThreadSanitizer can see: the package's pthread-mutex lock (`Synchronization.Mutex` is
/// built on futex calls inside the standard library, which TSan does not instrument, so under
/// `--sanitize=thread` it reports races on the very data such a mutex guards).
package typealias Locked = ProcessLock

/// An error with a recognisable description, so that it can be recognised even after it crossed
/// a process boundary as text.
package struct Boom: Error, CustomStringConvertible {
    package let tag: String
    package init(tag: String) { self.tag = tag }
    package var description: String { "boom-\(tag)" }
}

/// Whether `error` is, or carries (as text), the `Boom` tagged `tag`.
package func isBoom(_ error: any Error, _ tag: String) -> Bool {
    String(describing: error).contains("boom-\(tag)")
}

/// Whether `error` is `BatchError.canceled` (or its text, across processes).
package func isCanceled(_ error: any Error) -> Bool {
    if case BatchError.canceled = error { return true }
    return String(describing: error) == String(describing: BatchError.canceled)
}

/// Whether `error` says that another worker failed with `Boom(tag)`.
package func isWorkerFailed(_ error: any Error, _ tag: String) -> Bool {
    if case BatchError.workerFailed(let cause) = error { return isBoom(cause, tag) }
    let text = String(describing: error)
    return text.contains("another worker of the batch failed") && text.contains("boom-\(tag)")
}

/// Monotonic seconds.
package func monotonicSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// Waits (polling, bounded) until `condition` holds; records an issue and returns false if it
/// does not within `seconds`. Used to await an observable state, never to "let things settle".
@discardableResult
package func waitUntil(
    _ what: String, seconds: Double = 20, sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () -> Bool
) -> Bool {
    let deadline = monotonicSeconds() + seconds
    while !condition() {
        if monotonicSeconds() > deadline {
            Issue.record("timed out waiting until \(what)", sourceLocation: sourceLocation)
            return false
        }
        sched_yield()
    }
    return true
}

/// ``waitUntil(_:seconds:sourceLocation:_:)`` for a task: yields the task, not the thread.
@discardableResult
package func waitUntilAsync(
    _ what: String, seconds: Double = 20, sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () -> Bool
) async -> Bool {
    let deadline = monotonicSeconds() + seconds
    while !condition() {
        if monotonicSeconds() > deadline {
            Issue.record("timed out waiting until \(what)", sourceLocation: sourceLocation)
            return false
        }
        await Task.yield()
    }
    return true
}

/// How many times the order-sensitive scenarios repeat (CI raises it: BATCH_TEST_ROUNDS).
package let rounds: Int = {
    if let text = getenv("BATCH_TEST_ROUNDS"), let n = Int(String(cString: text)), n > 0 { return n }
    return 20
}()

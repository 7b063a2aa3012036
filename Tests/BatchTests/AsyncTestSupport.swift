import BatchTestSupport
import Synchronization
import Testing

// Helpers for the async tests: gates the test opens, and bounded waits for an observable state.
@testable import Batch

#if canImport(Glibc)
    import Glibc
#endif

/// A one-shot gate: tasks suspend in `wait()` until the test calls `open()`. Not cancellable, on
/// purpose: a cancelled task stays where the test put it until the gate opens.
final class AsyncGate: Sendable {
    private let state = Locked<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// How many tasks are suspended in `wait()`.
    var waiting: Int { state.withLock { $0.waiters.count } }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.open { return true }
                s.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }
}

/// Monotonic seconds.
func asyncTestNow() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// Suspends (yielding the thread) until `condition` holds; records an issue and returns false if
/// it does not within `seconds`. Awaits an observable state; never used to "let things settle".
@discardableResult
func awaitCondition(
    _ what: String, seconds: Double = 20, sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () -> Bool
) async -> Bool {
    let deadline = asyncTestNow() + seconds
    var spins = 0
    while !condition() {
        if asyncTestNow() > deadline {
            Issue.record("timed out waiting until \(what)", sourceLocation: sourceLocation)
            return false
        }
        spins += 1
        if spins < 1000 {
            await Task.yield()
        } else {
            try? await Task.sleep(nanoseconds: 200_000)  // poll period, not a synchronisation
        }
    }
    return true
}

extension _AsyncBatchCoordinating {
    /// Tasks parked on the enter channel (waiting while a batch commits).
    var waitingToEnter: Int { _engine.home.parkedCount(channel: 0) }
    /// Tasks parked in commit on `coach` (waiting for the committer).
    func waitingInCommit(coach: Int = 0) -> Int { _engine.home.parkedCount(channel: 1 + coach) }
    /// Tasks waiting for the critical section.
    var waitingForSection: Int { _engine.home.parkedCount(channel: nil) }
}

/// The shared state of a test batch: items added by the workers of the batch being filled.
/// Touched only inside the critical section, and by the commit function of a closed batch.
final class AsyncItems: @unchecked Sendable {
    var items: [Int] = []
}

/// Records every committed batch, to check totals and membership.
final class AsyncLedger: Sendable {
    let batches = Locked<[[Int]]>([])

    func record(_ items: [Int]) -> [Int] {
        batches.withLock { $0.append(items) }
        return items
    }

    /// Records a batch; its number in the ledger.
    func recordIndex(_ items: [Int]) -> Int {
        batches.withLock {
            $0.append(items)
            return $0.count - 1
        }
    }

    var all: [[Int]] { batches.withLock { $0 } }

    /// The accounting of a cancellation storm, once every task of `handles` (task `i` submitted
    /// item `i`) has ended: each task either got `CancellationError` or a batch containing its
    /// item; every committed item is in exactly one batch, and only served items are committed.
    func expectStormAccounted(
        _ handles: [Task<[Int], any Error>], sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        var served = Set<Int>()
        var cancelled = 0
        for (item, handle) in handles.enumerated() {
            do {
                let batch = try await handle.value
                #expect(batch.contains(item), sourceLocation: sourceLocation)
                served.insert(item)
            } catch is CancellationError {
                cancelled += 1
            } catch {
                Issue.record("task \(item): \(error)", sourceLocation: sourceLocation)
            }
        }
        let committed = all.flatMap { $0 }
        #expect(committed.count == Set(committed).count, sourceLocation: sourceLocation)
        #expect(Set(committed) == served, sourceLocation: sourceLocation)
        #expect(served.count + cancelled == handles.count, sourceLocation: sourceLocation)
    }
}

/// Booleans recorded from any task.
final class AsyncFlags: Sendable {
    private let state = Locked<[Bool]>([])
    func append(_ value: Bool) { state.withLock { $0.append(value) } }
    var values: [Bool] { state.withLock { $0 } }
}

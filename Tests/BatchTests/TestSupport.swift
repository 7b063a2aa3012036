// Helpers shared by the behavioural suite. Also linked into BatchIPCTests (symlink), so it uses
// only the public (and package) API of Batch.
import Batch
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A lock ThreadSanitizer can see: the package's pthread-mutex lock (`Synchronization.Mutex` is
/// built on futex calls inside the standard library, which TSan does not instrument, so under
/// `--sanitize=thread` it reports races on the very data such a mutex guards).
typealias Locked = ProcessLock

/// An error with a recognisable description, so that it can be recognised even after it crossed
/// a process boundary as text.
struct Boom: Error, CustomStringConvertible {
    let tag: String
    var description: String { "boom-\(tag)" }
}

/// Whether `error` is, or carries (as text), the `Boom` tagged `tag`.
func isBoom(_ error: any Error, _ tag: String) -> Bool {
    String(describing: error).contains("boom-\(tag)")
}

/// Whether `error` is `BatchError.canceled` (or its text, across processes).
func isCanceled(_ error: any Error) -> Bool {
    if case BatchError.canceled = error { return true }
    return String(describing: error) == String(describing: BatchError.canceled)
}

/// Whether `error` says that another worker failed with `Boom(tag)`.
func isWorkerFailed(_ error: any Error, _ tag: String) -> Bool {
    if case BatchError.workerFailed(let cause) = error { return isBoom(cause, tag) }
    let text = String(describing: error)
    return text.contains("another worker of the batch failed") && text.contains("boom-\(tag)")
}

/// Waits (polling, bounded) until `condition` holds; records an issue and returns false if it
/// does not within `seconds`. Used to await an observable state, never to "let things settle".
@discardableResult
func waitUntil(
    _ what: String, seconds: Double = 20, sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () -> Bool
) -> Bool {
    var start = timespec()
    clock_gettime(CLOCK_MONOTONIC, &start)
    while !condition() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        if Double(now.tv_sec - start.tv_sec) + Double(now.tv_nsec - start.tv_nsec) / 1e9 > seconds {
            Issue.record("timed out waiting until \(what)", sourceLocation: sourceLocation)
            return false
        }
        sched_yield()
    }
    return true
}

/// A joinable OS thread: the behavioural tests need real threads that block, not tasks.
final class TestThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: @Sendable () -> Void

    init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let box = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            let me = Unmanaged<TestThread>.fromOpaque(raw!).takeRetainedValue()
            me.body()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    func join() {
        let rc = pthread_join(thread, nil)
        precondition(rc == 0, "pthread_join failed: \(rc)")
    }
}

/// Runs `count` threads and joins them.
func runThreads(_ count: Int, _ body: @escaping @Sendable (_ id: Int) -> Void) {
    let threads = (0..<count).map { id in TestThread { body(id) } }
    for t in threads { t.join() }
}

/// A worker on its own thread: `batch { }` that adds (`add(coach, first)`), says it is inside,
/// and commits. Once `isInside`, another worker's `enter()` returns only after this one sleeps in
/// commit (it holds the critical section until then).
final class BackgroundWorker: Sendable {
    /// What the worker's thread and the test share.
    private final class Shared: Sendable {
        let inside = Atomic<Bool>(false)
        let outcome = Locked<Result<Int, any Error>?>(nil)
    }
    private let shared = Shared()
    private let thread: TestThread

    init<C: _BatchCoordinating<Int>>(
        _ coordinator: C, add: @escaping @Sendable (_ coach: Int, _ first: Bool) -> Void
    ) {
        let shared = self.shared
        thread = TestThread {
            let result = Result {
                try coordinator.batch { section in
                    add(section.coach, section.isFirst)
                    shared.inside.store(true, ordering: .releasing)
                    return try section.commit()
                }
            }
            shared.outcome.withLock { $0 = result }
        }
    }

    var isInside: Bool { shared.inside.load(ordering: .acquiring) }

    /// Waits for the worker's thread; its outcome.
    func finish() -> Result<Int, any Error> {
        thread.join()
        return shared.outcome.withLock { $0! }
    }
}

/// The books of a test: the items of the batch being filled, and for every committed batch (by
/// its number) the items it contained. A commit function built with `commitBatch()` closes the
/// current batch and returns its number.
final class Ledger: Sendable {
    struct State {
        var filling: [Int] = []
        var committed: [[Int]] = []
    }
    let state = Locked(State())

    /// Inside the critical section: add `item` to the filling batch (reset it when first).
    func add(_ item: Int, first: Bool) {
        state.withLock {
            if first { $0.filling = [] }
            $0.filling.append(item)
        }
    }

    /// The commit function: records the filling batch and returns its number.
    func commitBatch() -> Int {
        state.withLock {
            $0.committed.append($0.filling)
            return $0.committed.count - 1
        }
    }

    func batch(_ number: Int) -> [Int] { state.withLock { $0.committed[number] } }
    var batches: Int { state.withLock { $0.committed.count } }
    var allCommitted: [Int] { state.withLock { $0.committed.flatMap { $0 } } }
}

/// How many times the order-sensitive scenarios repeat (CI raises it).
let rounds: Int = {
    if let text = getenv("BATCH_TEST_ROUNDS"), let n = Int(String(cString: text)), n > 0 { return n }
    return 20
}()

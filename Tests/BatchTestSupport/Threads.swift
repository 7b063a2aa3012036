// Real OS threads for the blocking tests (they need threads that block, not tasks).
import Batch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A joinable OS thread: the behavioural tests need real threads that block, not tasks.
package final class TestThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: @Sendable () -> Void

    package init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let box = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(
            &thread, nil,
            { raw in
                let me = Unmanaged<TestThread>.fromOpaque(raw!).takeRetainedValue()
                me.body()
                return nil
            }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    package func join() {
        let rc = pthread_join(thread, nil)
        precondition(rc == 0, "pthread_join failed: \(rc)")
    }
}

/// Runs `count` threads and joins them.
package func runThreads(_ count: Int, _ body: @escaping @Sendable (_ id: Int) -> Void) {
    let threads = (0..<count).map { id in TestThread { body(id) } }
    for t in threads { t.join() }
}

/// A worker on its own thread: `batch { }` that adds (`add(coach, first)`), says it is inside,
/// and commits. Once `isInside`, another worker's `enter()` returns only after this one sleeps in
/// commit (it holds the critical section until then).
package final class BackgroundWorker: Sendable {
    /// What the worker's thread and the test share.
    private final class Shared: Sendable {
        let inside = Atomic<Bool>(false)
        let outcome = Locked<Result<Int, any Error>?>(nil)
    }
    private let shared = Shared()
    private let thread: TestThread

    package init<C: _BatchCoordinating<Int>>(
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

    package var isInside: Bool { shared.inside.load(ordering: .acquiring) }

    /// Waits for the worker's thread; its outcome.
    package func finish() -> Result<Int, any Error> {
        thread.join()
        return shared.outcome.withLock { $0! }
    }
}

/// A commit function that holds until the test releases it, so that the test can act while a
/// batch commits: call ``hold()`` in the commit function, await ``isHeld``, then ``release()``.
package final class CommitGate: Sendable {
    private let held = Atomic<Bool>(false)
    private let released = Atomic<Bool>(false)

    package init() {}

    /// In the commit function: says it runs, then waits until the test releases it.
    package func hold() {
        held.store(true, ordering: .releasing)
        while !released.load(ordering: .acquiring) { sched_yield() }
    }

    /// Whether a commit function holds at the gate (or did).
    package var isHeld: Bool { held.load(ordering: .acquiring) }

    /// Lets the commit function go on.
    package func release() { released.store(true, ordering: .releasing) }
}

// Running work on threads of our own (plain mode's inserters), and waiting from a thread for
// async work (batched mode's tasks): the example has no Foundation.

import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

enum Threads {
    /// Runs `body(0)` … `body(count - 1)` on `count` threads (one on the calling thread) and
    /// waits for all. Throws the first error any of them threw.
    static func run(count: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
        let firstError = ErrorSlot()
        let record: @Sendable (Int) -> Void = { index in
            do { try body(index) } catch { firstError.keep(error) }
        }
        var threads: [pthread_t] = []
        for index in 1..<max(count, 1) {
            let context = Unmanaged.passRetained(ThreadStart { record(index) }).toOpaque()
            var thread = pthread_t()
            let rc = pthread_create(
                &thread, nil,
                { context in
                    let start = Unmanaged<ThreadStart>.fromOpaque(context!).takeRetainedValue()
                    start.body()
                    return nil
                }, context)
            guard rc == 0 else {
                Unmanaged<ThreadStart>.fromOpaque(context).release()
                for t in threads { pthread_join(t, nil) }
                throw RuntimeFailure.errno("pthread_create", rc)
            }
            threads.append(thread)
        }
        record(0)
        for thread in threads {
            let rc = pthread_join(thread, nil)
            precondition(rc == 0, "pthread_join failed: \(rc)")
        }
        if let error = firstError.error { throw error }
    }

    /// Runs `body` as a task and blocks the calling thread (not one of the cooperative pool's)
    /// until it ends. Throws what `body` threw.
    static func waitForTask(_ body: @escaping @Sendable () async throws -> Void) throws {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw RuntimeFailure.errno("pipe") }
        let done = ends[1]
        let failure = ErrorSlot()
        Task.detached {
            do { try await body() } catch { failure.keep(error) }
            close(done)  // end-of-file for the waiting thread
        }
        var byte: UInt8 = 0
        _ = retryingEINTR { read(ends[0], &byte, 1) }
        close(ends[0])
        if let error = failure.error { throw error }
    }
}

/// The first error of several threads or tasks.
private final class ErrorSlot: Sendable {
    private let first = Mutex<(any Error)?>(nil)

    func keep(_ error: any Error) { first.withLock { $0 = $0 ?? error } }

    var error: (any Error)? { first.withLock { $0 } }
}

/// A thread's body, passed through pthread_create's context pointer.
private final class ThreadStart {
    let body: @Sendable () -> Void

    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

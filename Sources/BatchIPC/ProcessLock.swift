#if canImport(Glibc)
    import Glibc
#endif

/// Not API (package): a value guarded by a private pthread mutex, for the package's process-local
/// bookkeeping (BatchIPC's attach state and registry of open mappings) and its tests. Not
/// `Synchronization.Mutex`: its futex-based lock is invisible to ThreadSanitizer on Linux, which
/// then reports the guarded accesses as races; a pthread mutex is intercepted. Never on a hot path.
package final class ProcessLock<Value>: @unchecked Sendable {
    // @unchecked Sendable: `value` is only touched inside `withLock`, under `mutex`.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    package init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        let rc = pthread_mutex_init(mutex, nil)
        precondition(rc == 0, "pthread_mutex_init failed: \(rc)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    package func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        let rc = pthread_mutex_lock(mutex)
        precondition(rc == 0, "pthread_mutex_lock failed: \(rc)")
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}

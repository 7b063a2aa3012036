import Batch
import CBatchCore
import CShmSync

#if canImport(Glibc)
    import Glibc
#endif

// The segment's robust process-shared mutex: the home's lock. Taking it repairs the state when
// its previous holder died (EOWNERDEAD); releasing it issues the futex wakes owed meanwhile
// (FutexCondition.swift).

extension SharedSegment {
    /// Takes the segment mutex. When the previous holder died (`EOWNERDEAD`) the state is
    /// repaired per the crash table before `pthread_mutex_consistent`, so callers always see a
    /// consistent state.
    @inlinable
    func lock() {
        let rc = cshm_mutex_lock(mutexP)
        if rc == 0 { return }
        lockFailed(rc)
    }

    /// Takes the segment mutex for a task: where async workers take part, every holder keeps it
    /// for one step only (microseconds), so a task that finds it taken tries again a few times
    /// before it waits for it like a thread — it never waits for another worker's batch or
    /// section on the mutex (those waits suspend the task).
    @inlinable
    func lockForStep() {
        let rc = cshm_mutex_trylock(mutexP)
        if rc == 0 { return }
        lockForStepSlow(rc)
    }

    @usableFromInline @inline(never)
    func lockForStepSlow(_ first: Int32) {
        var rc = first
        for _ in 0..<64 where rc == EBUSY {
            for _ in 0..<16 { cbatch_cpu_relax() }
            rc = cshm_mutex_trylock(mutexP)
        }
        if rc == EBUSY { rc = cshm_mutex_lock(mutexP) }
        if rc != 0 { lockFailed(rc) }
    }

    @usableFromInline @inline(never)
    func lockFailed(_ rc: Int32) {
        guard rc == EOWNERDEAD else {
            preconditionFailure(
                "pthread_mutex_lock on segment \(name) failed: \(String(cString: strerror(rc))) (\(rc)); the segment is unusable: stop its users and remove it with `batch-shm-demo unlink \(name)`"
            )
        }
        repair(ownerDied: true)
        let c = cshm_mutex_consistent(mutexP)
        precondition(c == 0, "pthread_mutex_consistent on segment \(name) failed: \(c)")
    }

    /// Releases the segment mutex, then issues the wakes owed (``wake(_:all:)``): a thread woken
    /// while the waker still held the mutex would only block on it again (and, on a busy machine,
    /// preempt the waker while it holds it).
    @inlinable @inline(__always)
    func unlock() {
        let owed = futex.takeOwedWakes()
        let rc = cshm_mutex_unlock(mutexP)
        if rc != 0 { unlockFailed(rc) }
        if let owed { futex.issueOwedWakes(owed) }
    }

    @usableFromInline @inline(never)
    func unlockFailed(_ rc: Int32) -> Never {
        preconditionFailure("pthread_mutex_unlock on segment \(name) failed: \(rc)")
    }
}

import Batch
import CBatchCore
import CShmSync

#if canImport(Glibc)
    import Glibc
#endif

// The segment's robust process-shared mutex: the home's lock. Taking it repairs the state when
// its previous holder died (EOWNERDEAD); releasing it issues the futex wakes owed meanwhile
// (FutexCondition.swift). A lock that stays taken is waited for one liveness period at a time,
// and after each the lock word's owner is judged (a live thread of a process that uses this
// segment, or not): a dead or impossible owner, or a mutex glibc refuses, is a corrupt segment —
// an error, never a hang or a trap.

extension SharedSegment {
    /// Takes the segment mutex. When the previous holder died (`EOWNERDEAD`) the state is
    /// repaired per the crash table before `pthread_mutex_consistent`, so callers always see a
    /// consistent state.
    ///
    /// The uncontended path is one `pthread_mutex_trylock` (after a compare of the mutex's kind:
    /// glibc asserts on some kinds another process could write). A holder keeps the mutex for a
    /// step of the engine (microseconds) — or, in a segment without async workers, for a blocking
    /// worker's section, which is usually as short — so a taken mutex is tried again for about
    /// 16 µs (64 attempts, 16 pauses apart) before ``lockSlow(_:)`` sleeps on it, as an adaptive
    /// pthread mutex does: a robust one sleeps in the kernel at once, and a futex sleep and
    /// wake-up costs 5–25 µs on a typical server and more on a virtual machine. Measured with two
    /// processes and a 50 µs commit: the worker just served slept on the mutex while its peer held
    /// it for a step, came back too late to join the next batch, and batches made 1.3–1.7 workers
    /// instead of 1.9 (docs/BENCHMARKS.md). Tasks take it the same way: a task never waits on the
    /// mutex for another worker's batch or section (where async workers take part, every holder
    /// keeps it for one step; those waits suspend the task).
    /// - Throws: ``SharedBatchError/corruptSegment(name:field:detail:)`` (this process then
    ///   stops using the segment: ``failure``).
    @inlinable
    func lock() throws(SharedBatchError) {
        let rc = cshm_mutex_trylock_kind(mutexP, mutexKind)
        if rc == 0 { return }
        try lockContended(rc)
    }

    /// The lock, taken by another: tries again for a while, then waits like ``lockSlow(_:)``.
    @usableFromInline @inline(never)
    func lockContended(_ first: Int32) throws(SharedBatchError) {
        var rc = first
        for _ in 0..<64 where rc == EBUSY {
            for _ in 0..<16 { cbatch_cpu_relax() }
            rc = cshm_mutex_trylock_kind(mutexP, mutexKind)
        }
        try lockSlow(rc)
    }

    /// The lock when the first attempt did not get it: waits one liveness period at a time,
    /// judging the owner after each.
    @usableFromInline @inline(never)
    func lockSlow(_ first: Int32) throws(SharedBatchError) {
        var rc = first
        while true {
            switch rc {
            case 0:
                return
            case EOWNERDEAD:
                try repairAfterOwnerDied()
                return
            case EBUSY, ETIMEDOUT:
                if let failure = waitingStopped {  // found corrupt already: no more waiting
                    if hasWorkersOthersMayWaitFor { givesUp(failure) }
                    throw failure
                }
                guard cshm_mutex_kind_ok(mutexP) != 0 else {
                    throw foundCorrupt(
                        .corruptSegment(name: name, field: "mutex", detail: "its kind is not a robust mutex"))
                }
                if rc == ETIMEDOUT {
                    if let failure = stopIfFoundCorrupt() { throw failure }
                    if let verdict = judgeLockOwner() {
                        throw foundCorrupt(.corruptSegment(name: name, field: "mutex", detail: verdict))
                    }
                }
                rc = cshm_mutex_kind_ok(mutexP) != 0 ? cshm_mutex_timedlock(mutexP, livenessNS) : EINVAL
            default:  // EINVAL (garbage in the mutex), ENOTRECOVERABLE, EAGAIN, EDEADLK
                throw foundCorrupt(
                    .corruptSegment(
                        name: name, field: "mutex",
                        detail: "pthread_mutex_lock failed: \(String(cString: strerror(rc))) (\(rc))"))
            }
        }
    }

    /// After a liveness period without the lock: why its owner can never release it, or `nil`
    /// while the owner may be alive (it is free now, the kernel marked it dead — the next attempt
    /// says `EOWNERDEAD` —, or a thread of a process that maps this segment holds it: a stopped or
    /// slow process is never declared dead).
    ///
    /// The lock word names the owner's thread id (glibc's robust mutexes): a thread that does not
    /// exist, or does not map this segment, or this very thread, or no thread at all, is never a
    /// holder. The word is read again after the judgement: if it changed, the lock is alive.
    func judgeLockOwner() -> String? {
        let word = cshm_mutex_word(mutexP)
        if word == 0 || word & UInt32(FUTEX_OWNER_DIED) != 0 { return nil }
        let tid = Int32(bitPattern: word & UInt32(FUTEX_TID_MASK))
        let verdict: String
        if tid == 0 {
            verdict = "names no owner"
        } else if tid == cshm_gettid() {
            verdict = "names this thread, which does not hold it"
        } else {
            switch cshm_thread_maps(tid, fileID.device, fileID.inode) {
            case -1: verdict = "names thread \(tid), which does not exist"
            case 0: verdict = "names thread \(tid), which does not use this segment"
            default: return nil  // alive and using it, or no /proc to tell: wait on
            }
        }
        guard cshm_mutex_word(mutexP) == word else { return nil }
        return "the lock word 0x\(String(word, radix: 16)) \(verdict): nobody can ever release it"
    }

    /// The lock came back `EOWNERDEAD`: repair, then mark the mutex consistent. A repair that
    /// finds the state corrupt leaves the mutex consistent and released.
    func repairAfterOwnerDied() throws(SharedBatchError) {
        do {
            try repair(ownerDied: true)
        } catch {
            _ = cshm_mutex_consistent(mutexP)
            _ = cshm_mutex_unlock_kind(mutexP, mutexKind)
            throw foundCorrupt(error)
        }
        let c = cshm_mutex_consistent(mutexP)
        guard c == 0 else {
            _ = cshm_mutex_unlock_kind(mutexP, mutexKind)
            throw foundCorrupt(
                .corruptSegment(name: name, field: "mutex", detail: "pthread_mutex_consistent failed: \(c)"))
        }
    }

    /// Under the lock: a value read under it is impossible. Releases the lock and returns the
    /// error, recorded as this process's ``failure``.
    func brokenUnlocking(_ error: SharedBatchError) -> SharedBatchError {
        unlock()
        return foundCorrupt(error)
    }

    /// Releases the segment mutex, then issues the wakes owed (``wake(_:all:)``): a thread woken
    /// while the waker still held the mutex would only block on it again (and, on a busy machine,
    /// preempt the waker while it holds it).
    @inlinable @inline(__always)
    func unlock() {
        let owed = futex.takeOwedWakes()
        let rc = cshm_mutex_unlock_kind(mutexP, mutexKind)
        if rc != 0 { unlockFailed(rc) }
        if let owed { futex.issueOwedWakes(owed) }
    }

    /// The mutex refused to be released (`EPERM`: its lock word no longer names this thread —
    /// another process overwrote it). Not a trap: the segment is recorded as corrupt, and this
    /// process stops using it.
    @usableFromInline @inline(never)
    func unlockFailed(_ rc: Int32) {
        _ = foundCorrupt(
            .corruptSegment(
                name: name, field: "mutex",
                detail: "pthread_mutex_unlock failed: \(String(cString: strerror(rc))) (\(rc))"))
    }
}

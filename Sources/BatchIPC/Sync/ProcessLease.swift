import Batch
import CBatchCore
import CShmSync

#if canImport(Glibc)
    import Glibc
#endif

// Process leases: a process takes part through a process entry whose robust mutex a dedicated
// thread of its own holds for the whole attachment, so that its death is detected exactly.

extension SharedSegment {
    /// Attaches this process (once): a lease thread takes a process entry and holds its robust
    /// mutex until the process detaches. The tables are checked first (``checkState()``); when
    /// every entry is taken, dead processes are repaired, so that their entries are free.
    ///
    /// Why this liveness test is exact: the lease is owned by a kernel thread id, and when the
    /// thread ends — which, since it only ends when the process detaches, means the process died
    /// (or exec'd) — the kernel walks the thread's robust list and marks the mutex
    /// `FUTEX_OWNER_DIED`; the next `trylock` returns `EOWNERDEAD`. No pid is compared, so pid
    /// reuse cannot fool it, and a live process is never declared dead. (A pid-based
    /// `kill(pid, 0)` test would be fooled by reuse; a heartbeat by a stopped or slow process.)
    /// - Throws: ``SharedBatchError/closed(name:)``, ``SharedBatchError/processTableFull(capacity:)``,
    ///   ``SharedBatchError/corruptSegment(name:field:detail:)``, or `.system` when the lease's
    ///   mutex or thread cannot be made.
    func attach() throws(SharedBatchError) {
        let result: Result<Void, SharedBatchError> = local.withLock { state in
            if state.closed { return .failure(.closed(name: name)) }
            if state.proc >= 0 { return .success(()) }
            // The whole claim happens under the segment mutex, so nobody ever sees an entry in
            // state 1 whose lease is not held yet; a death half-way leaves EOWNERDEAD to repair.
            var free: Int?
            do throws(SharedBatchError) {
                try lock()
                do throws(SharedBatchError) {
                    try checkState()
                    free = (0..<procCount).first { procsP[$0].state == 0 }
                    if free == nil {
                        try repair(ownerDied: false)
                        free = (0..<procCount).first { procsP[$0].state == 0 }
                    }
                } catch {
                    throw brokenUnlocking(error)
                }
            } catch {
                return .failure(error)
            }
            guard let found = free else {
                unlock()
                return .failure(.processTableFull(capacity: procCount))
            }
            let entry = procsP + found
            let lease: LeaseThread
            do throws(SharedBatchError) {
                let rc = cshm_mutex_init(cshm_proc_lease(entry))
                guard rc == 0 else { throw .system(operation: "pthread_mutex_init (lease)", name: name, errno: rc) }
                lease = try LeaseThread(lease: cshm_proc_lease(entry), segment: name)
            } catch {
                unlock()
                return .failure(error)
            }
            // 1 + the highest entry ever claimed first: whenever state == 1, the entry is below it.
            if header.pointee.proc_high < UInt32(found + 1) { header.pointee.proc_high = UInt32(found + 1) }
            entry.pointee.pid = getpid()
            entry.pointee.serial &+= 1
            cbatch_atomic_store_i64(&entry.pointee.queued, 0)
            cbatch_atomic_store_i64(&entry.pointee.departed, 0)
            // Only now: state == 1 implies the lease is held (or its owner died). Atomic: queueLength
            // reads it without the lock.
            cshm_atomic_store_u32(&entry.pointee.state, 1)
            unlock()
            state.proc = Int32(found)
            state.lease = lease
            state.leaseSerial = entry.pointee.serial
            myProc.store(Int32(found), ordering: .relaxed)
            return .success(())
        }
        try result.get()
    }

    /// Detaches this process (from `close()`): waits until none of its workers is inside a batch
    /// (one liveness period at a time: their exits wake nobody here), then — unless a survivor
    /// already did — gives up the process entry with its slots and announcements, after
    /// repairing dead processes (their deaths are counted before this process leaves), and only
    /// then lets go of the lease. On a segment found corrupt (whose workers may never leave
    /// their batches), or when the lock cannot be had, only the lease is let go: survivors
    /// repair the rest as after a death.
    /// - Returns: whether it gave up the entry and slots here (else nothing was freed by it).
    func detach(proc p: Int, serial: UInt64, lease: LeaseThread) -> Bool {
        defer {
            myProc.store(-1, ordering: .relaxed)
            lease.stop()
        }
        if case .corruptSegment? = failure { return false }
        let engine = _BatchEngine(home: state, waiting: _WaitPolicy(.adaptive))
        while true {
            // Found corrupt meanwhile: its workers may never leave their batches.
            if case .corruptSegment? = failure { return false }
            do throws(SharedBatchError) { try lock() } catch { return false }
            do throws(SharedBatchError) {
                try repair(ownerDied: false)
            } catch {
                _ = brokenUnlocking(error)
                return false
            }
            let entry = procsP + p
            guard entry.pointee.state == 1 && entry.pointee.serial == serial && entry.pointee.pid == getpid() else {
                unlock()
                return true  // a survivor saw the lease go and freed it all
            }
            guard let inside = workerInBatch() else {
                reclaim(process: p, engine: engine, died: false)
                settleAfterRepair()
                unlock()
                return true
            }
            precondition(
                inside != mySlotIfCached(),
                "close() of segment \(name) inside one of its batches: close it after the batch, when no worker of this process is in one"
            )
            let seq = cshm_atomic_load_u32(cbatch_channel_seq(futex.channels))
            unlock()
            _ = cshm_futex_wait(cbatch_channel_seq(futex.channels), seq, livenessNS)
        }
    }

    /// A slot whose worker of this process is inside a batch, as that worker recorded it
    /// (``localPhases``: what the segment says may be another process's writing).
    func workerInBatch() -> Int? {
        (0..<slotCount).first { s in
            (WorkerPhase(rawValue: cshm_atomic_load_u32(localPhases + s)) ?? .idle).isInBatch
        }
    }

    /// The calling thread's slot in this mapping if it has one already, else -1.
    func mySlotIfCached() -> Int {
        let cache = cshm_tls()!
        for i in 0..<Int(CSHM_TLS_ENTRIES) where cache[i].serial == serial { return Int(cache[i].slot) }
        return -1
    }

    /// What the lease of an attached process entry says about its owner.
    enum Lease {
        /// Held: the owner is alive.
        case held
        /// Its owner died holding it, or it is no lease at all (not our kind of mutex).
        case died
        /// Released: the owner is detaching (state == 1 only while the lease is held or its
        /// owner died, and it lets go only in `detach`).
        case released
    }

    /// Under the segment lock: the lease of process entry `p`, tried, never waited for. A dead
    /// owner's lease is made consistent and released for the entry's next owner.
    func lease(of p: Int) -> Lease {
        let lease = cshm_proc_lease(procsP + p)
        // glibc dispatches on the kind: one that is not ours is no lease (and a trylock with
        // another kind may do what a robust mutex never does): EINVAL, counted as dead.
        switch cshm_mutex_trylock_kind(lease, mutexKind) {
        case EBUSY:
            return .held
        case EOWNERDEAD:
            _ = cshm_mutex_consistent(lease)
            _ = cshm_mutex_unlock_kind(lease, mutexKind)
            return .died
        case 0:
            _ = cshm_mutex_unlock_kind(lease, mutexKind)
            return .released
        case EINVAL:
            return .died
        default:
            // ENOTRECOVERABLE: glibc's trylock leaves it locked by the caller; unlocking makes it
            // usable again.
            _ = cshm_mutex_unlock_kind(lease, mutexKind)
            return .died
        }
    }

    /// Without any lock, for ``status()``: whether the lease of entry `p` is held by a thread
    /// the kernel has not found dead, read from its lock word — exact (the kernel marks a dead
    /// owner's robust mutex `FUTEX_OWNER_DIED` when the thread ends) and without touching it: a
    /// monitor's trylock would take a dead owner's lease away from the repairer that counts it.
    func leaseIsHeld(_ p: Int) -> Bool {
        let word = cshm_mutex_word(cshm_proc_lease(procsP + p))
        return word & UInt32(FUTEX_TID_MASK) != 0 && word & UInt32(FUTEX_OWNER_DIED) == 0
    }
}

/// The thread that holds a process's lease for as long as the process is attached. It touches
/// nothing but the lease mutex, so it never keeps the segment object alive. Its semaphores and
/// thread handle are allocated: a thread blocks on their addresses, which must never move.
final class LeaseThread: @unchecked Sendable {
    // @unchecked: `lease` is only locked and unlocked by the thread; the semaphores order the rest.
    let lease: UnsafeMutablePointer<pthread_mutex_t>
    let thread: UnsafeMutablePointer<pthread_t>
    /// Posted by the thread once it holds the lease (`rc` says whether it got it).
    let ready: UnsafeMutablePointer<sem_t>
    /// Posted by `stop()`: the thread lets go of the lease and ends.
    let release: UnsafeMutablePointer<sem_t>
    /// The thread's `pthread_mutex_lock` result, written before `ready` is posted.
    var rc: Int32 = 0

    /// Starts the thread and returns once it holds the lease.
    /// - Throws: `.system` when the thread cannot be created or cannot take the lease.
    init(lease: UnsafeMutablePointer<pthread_mutex_t>, segment name: String) throws(SharedBatchError) {
        self.lease = lease
        thread = .allocate(capacity: 1)
        ready = .allocate(capacity: 1)
        release = .allocate(capacity: 1)
        sem_init(ready, 0, 0)
        sem_init(release, 0, 0)
        let box = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(
            thread, nil,
            { raw in
                let me = Unmanaged<LeaseThread>.fromOpaque(raw!).takeRetainedValue()
                // Freshly initialised under the segment lock: free, unless another process wrote
                // it meanwhile — then an error, not a wait.
                me.rc = cshm_mutex_trylock_kind(me.lease, cshm_mutex_expected_kind())
                let links = cshm_mutex_links_get(me.lease)
                sem_post(me.ready)
                if me.rc != 0 { return nil }
                while sem_wait(me.release) != 0 {}
                // Held for the whole attachment, in memory other processes can write: the kind
                // and the robust-list links glibc follows are checked and put back first. Not a
                // lease any more (another kind): kept; the kernel marks it when this thread ends.
                if cshm_mutex_kind_ok(me.lease) != 0 {
                    cshm_mutex_links_set(me.lease, links)
                    _ = cshm_mutex_unlock(me.lease)
                }
                return nil
            }, box)
        guard created == 0 else {
            Unmanaged<LeaseThread>.fromOpaque(box).release()
            throw .system(operation: "pthread_create (lease thread)", name: name, errno: created)
        }
        while sem_wait(ready) != 0 {}
        guard rc == 0 else {
            pthread_join(thread.pointee, nil)
            throw .system(operation: "pthread_mutex_trylock (lease, freshly initialised)", name: name, errno: rc)
        }
    }

    deinit {
        sem_destroy(ready)
        sem_destroy(release)
        ready.deallocate()
        release.deallocate()
        thread.deallocate()
    }

    /// Lets go of the lease; the thread exits.
    func stop() {
        sem_post(release)
        pthread_join(thread.pointee, nil)
    }
}

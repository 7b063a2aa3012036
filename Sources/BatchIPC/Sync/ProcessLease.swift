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
    /// mutex until `close()`.
    ///
    /// Why this liveness test is exact: the lease is owned by a kernel thread id, and when the
    /// thread ends — which, since it only ends in `close()`, means the process died (or exec'd) —
    /// the kernel walks the thread's robust list and marks the mutex `FUTEX_OWNER_DIED`; the next
    /// `trylock` returns `EOWNERDEAD`. No pid is compared, so pid reuse cannot fool it, and a
    /// live process is never declared dead. (A pid-based `kill(pid, 0)` test would be fooled by
    /// reuse; a heartbeat would be fooled by a stopped or slow process.)
    func attach() throws(SharedBatchError) {
        let result: Result<Void, SharedBatchError> = local.withLock { state in
            precondition(
                !state.closed, "segment \(name) used after close(): close it only when every coordinator is done")
            if state.proc >= 0 { return .success(()) }
            // The whole claim happens under the segment mutex, so nobody ever sees an entry in
            // state 1 whose lease is not held yet; a death half-way leaves EOWNERDEAD to repair.
            lock()
            guard let found = (0..<procCount).first(where: { procsP[$0].state == 0 }) else {
                unlock()
                return .failure(.processTableFull(capacity: procCount))
            }
            let entry = procsP + found
            let rc = cshm_mutex_init(cshm_proc_lease(entry))
            precondition(rc == 0, "pthread_mutex_init (lease of segment \(name)) failed: \(rc)")
            let lease = LeaseThread(lease: cshm_proc_lease(entry))
            lease.start()
            entry.pointee.pid = getpid()
            entry.pointee.serial &+= 1
            cbatch_atomic_store_i64(&entry.pointee.queued, 0)
            entry.pointee.state = 1  // only now: state == 1 implies the lease is held (or its owner died)
            if header.pointee.proc_high < UInt32(found + 1) { header.pointee.proc_high = UInt32(found + 1) }
            unlock()
            state.proc = Int32(found)
            state.lease = lease
            state.leaseSerial = entry.pointee.serial
            myProc.store(Int32(found), ordering: .relaxed)
            return .success(())
        }
        try result.get()
    }

    /// Detaches this process (from `close()`): lets go of the lease, then frees the process
    /// entry and its slots unless a survivor already did (it may see the released lease first).
    func detach(proc p: Int, serial: UInt64, lease: LeaseThread) {
        lease.stop()
        lock()
        let entry = procsP + p
        if entry.pointee.state == 1 && entry.pointee.serial == serial && entry.pointee.pid == getpid() {
            for s in 0..<slotHigh where slotsP[s].proc == UInt32(p + 1) {
                freeSlot(s)
            }
            cbatch_atomic_store_i64(&entry.pointee.queued, 0)
            entry.pointee.state = 0
            recomputeSleepers()
            wakeEveryone()
        }
        unlock()
    }

    /// Whether a process entry's owner is dead. Under the lock. Frees the lease if so.
    func procIsDead(_ p: Int) -> Bool {
        let rc = cshm_mutex_trylock(cshm_proc_lease(procsP + p))
        switch rc {
        case EBUSY: return false
        case EOWNERDEAD:
            _ = cshm_mutex_consistent(cshm_proc_lease(procsP + p))
            _ = cshm_mutex_unlock(cshm_proc_lease(procsP + p))
            return true
        case 0:
            // Invariant: state == 1 only while the lease is held. Unheld means its owner is gone.
            _ = cshm_mutex_unlock(cshm_proc_lease(procsP + p))
            return true
        default:
            return true  // ENOTRECOVERABLE: the owner is gone too
        }
    }
}

/// The thread that holds a process's lease for as long as the process is attached. It touches
/// nothing but the lease mutex, so it never keeps the segment object alive.
final class LeaseThread: @unchecked Sendable {
    // @unchecked: `lease` is only locked and unlocked by the thread; the semaphores order the rest.
    let lease: UnsafeMutablePointer<pthread_mutex_t>
    var thread = pthread_t()
    var ready = sem_t()
    var release = sem_t()

    init(lease: UnsafeMutablePointer<pthread_mutex_t>) {
        self.lease = lease
        sem_init(&ready, 0, 0)
        sem_init(&release, 0, 0)
    }

    deinit {
        sem_destroy(&ready)
        sem_destroy(&release)
    }

    /// Starts the thread and returns once it holds the lease.
    func start() {
        let box = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(
            &thread, nil,
            { raw in
                let me = Unmanaged<LeaseThread>.fromOpaque(raw!).takeRetainedValue()
                let rc = cshm_mutex_lock(me.lease)
                precondition(rc == 0, "pthread_mutex_lock (lease, freshly initialised) failed: \(rc)")
                sem_post(&me.ready)
                while sem_wait(&me.release) != 0 {}
                _ = cshm_mutex_unlock(me.lease)
                return nil
            }, box)
        precondition(rc == 0, "pthread_create (lease thread) failed: \(rc)")
        while sem_wait(&ready) != 0 {}
    }

    /// Lets go of the lease; the thread exits.
    func stop() {
        sem_post(&release)
        pthread_join(thread, nil)
    }
}

import Batch
import CShmSync
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

// The synchronisation of a segment: the robust mutex with crash repair, the robust condition
// (futex sequence words), participant slots, process leases, and the queue as a sum of
// per-slot counters. DESIGN.md §2 explains each choice; the comments say why each is exact.

extension SharedSegment {
    // MARK: - The robust mutex

    /// Takes the segment mutex. When the previous holder died (`EOWNERDEAD`) the state is
    /// repaired per the crash table before `pthread_mutex_consistent`, so callers always see a
    /// consistent state.
    @inlinable
    func lockRaw() {
        let rc = cshm_mutex_lock(mutexP)
        if rc == 0 { return }
        lockFailed(rc)
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
    func unlockRaw() {
        let one = pendingWakes[0]
        let all = pendingWakes[1]
        if one | all == 0 {
            // The common case (nobody sleeps): nothing owed.
            let rc = cshm_mutex_unlock(mutexP)
            if rc != 0 { unlockFailed(rc) }
            return
        }
        pendingWakes[0] = 0
        pendingWakes[1] = 0
        let rc = cshm_mutex_unlock(mutexP)
        if rc != 0 { unlockFailed(rc) }
        issueWakes(one: one, all: all)
    }

    @usableFromInline @inline(never)
    func unlockFailed(_ rc: Int32) -> Never {
        preconditionFailure("pthread_mutex_unlock on segment \(name) failed: \(rc)")
    }

    /// Not under the lock: FUTEX_WAKE for the channels of the two masks (all wins over one).
    @usableFromInline @inline(never)
    func issueWakes(one: UInt64, all: UInt64) {
        var bits = one | all
        while bits != 0 {
            let ch = bits.trailingZeroBitCount
            bits &= bits - 1
            cshm_futex_wake(seqP(ch), all & (1 << UInt64(ch)) != 0 ? 1 : 0)
        }
    }

    /// Takes the mutex for the worker in `slot`.
    ///
    /// The crash snapshot: invariant "whenever the mutex is free, the current shadow equals the
    /// algorithm's state (but for the holder fields, which repair clears)". Every path of the
    /// engine that changes the state under the lock records a phase (`note`, which saves a
    /// snapshot) after its last change and before unlocking; paths that change nothing need no
    /// snapshot; crash repair saves one at its end. So a holder that dies at any instant leaves a
    /// shadow that matches every participant's recorded phase.
    ///
    /// Who held it is not recorded here (that would cost two stores per lock): on `EOWNERDEAD`
    /// the engine's `core.holder` names the dead holder's slot whenever it was between enter and
    /// exit; otherwise its state was consistent already and the lease scan finds its process.
    @inlinable
    func lock(slot: Int) {
        lockRaw()
    }

    @inlinable
    func unlock(slot: Int) {
        unlockRaw()
    }

    // MARK: - The robust condition

    // A channel's fields through pointers of their own (offsets asserted in cshm_shm.c), never
    // `&channelsP[c].seq`: Swift counts an inout argument as a write to the whole struct for the
    // length of the call (FUTEX_WAIT, the yields), which ThreadSanitizer reports against every
    // other waiter's atomic read of the same word.
    @inlinable func seqP(_ channel: Int) -> UnsafeMutablePointer<UInt32> {
        UnsafeMutableRawPointer(channelsP + channel).assumingMemoryBound(to: UInt32.self)
    }
    @inlinable func sleepersP(_ channel: Int) -> UnsafeMutablePointer<UInt32> {
        (UnsafeMutableRawPointer(channelsP + channel) + 4).assumingMemoryBound(to: UInt32.self)
    }

    /// Under the lock: sleeps on `channel` until a wake, or at most one liveness period, then
    /// retakes the lock and looks for dead participants. A sleeper that is killed leaves nothing
    /// behind but its slot's `channel`, which crash repair discounts.
    func wait(_ channel: Int, slot: Int) {
        let seqWord = seqP(channel)
        let seq = cshm_atomic_load_u32(seqWord)
        sleepersP(channel).pointee += 1
        slotsP[slot].channel = Int32(channel)
        let budget = yieldBudgetNS.load(ordering: .relaxed)
        let soon = budget > 0 && wakeIsNear(channel)
        unlock(slot: slot)
        if !soon || cshm_yield_until_changed(seqWord, seq, Self.waitYields, budget) == 0 {
            _ = cshm_futex_wait(seqWord, seq, livenessNS)
        }
        lock(slot: slot)
        if sleepersP(channel).pointee > 0 { sleepersP(channel).pointee -= 1 }
        slotsP[slot].channel = -1
        repair(ownerDied: false)
    }

    /// How many times a waiter yields the CPU before it sleeps, when its wake is near
    /// (``wakeIsNear(_:)``). Group commit, 8 worker processes on 2 CPUs, interleaved medians:
    /// 16 yields on every wait +10-20 % ops/s over none; 256 on near waits only, 5-15 % more
    /// again (64 and 1024 no better). Bounded: on an idle machine 256 yields take well under a
    /// millisecond, and a worker that starts waiting while a commit function runs never yields.
    @usableFromInline static var waitYields: Int32 { 256 }

    // And at most `yieldBudget` long (1 ms by default, or a quarter of the liveness period if
    // shorter): a yielding waiter does not look for dead participants, so the time bounds how much
    // later than one liveness period a death can be noticed. 200 µs cut the group-commit gain by ~8 %.

    /// Under the lock: whether what a waiter on `channel` waits for is a few steps of other
    /// workers away (worth yielding the CPU for) rather than a commit function (sleep at once):
    /// in commit, the coach is still filling or already published; to enter, no coach is
    /// committing (the closed ones only wait for their workers to exit).
    @inlinable
    func wakeIsNear(_ channel: Int) -> Bool {
        if channel > 0 {
            let co = coachesP + (channel - 1)
            return co.pointee.count >= 0 || co.pointee.ready != 0
        }
        for c in 0..<coachCount where coachesP[c].count < 0 && coachesP[c].ready == 0 { return false }
        return true
    }

    /// Under the lock: bumps the channel's sequence and wakes its sleepers — only when one may
    /// exist, so an uncontended operation makes no system call.
    ///
    /// The bump happens now (a sleeper that has not reached FUTEX_WAIT yet sees the sequence
    /// changed and does not sleep); the FUTEX_WAKE itself is owed and issued by `unlockRaw`
    /// right after the mutex is released, so that woken threads find it free. Several owed
    /// wakes of one channel merge (one "all" covers "one"; two "one"s wake one waiter: the
    /// waiters of a channel all re-check the same state). A holder that dies before unlocking
    /// issues nothing: its sleepers wake at the end of their liveness period and re-check, as
    /// after any crash.
    @inlinable @inline(__always)
    func wake(_ channel: Int, all: Bool) {
        guard sleepersP(channel).pointee > 0 else { return }
        wakeSleepers(channel, all: all)
    }

    @usableFromInline @inline(never)
    func wakeSleepers(_ channel: Int, all: Bool) {
        _ = cshm_atomic_add_u32(seqP(channel), 1)
        if channel < 64 {  // a Multi with 63 coaches or more: the others are woken at once
            pendingWakes[all ? 1 : 0] |= 1 << UInt64(channel)
        } else {
            cshm_futex_wake(seqP(channel), all ? 1 : 0)
        }
    }

    // MARK: - Participant slots

    /// Under the lock: 1 + the highest slot ever claimed, bounded by the validated capacity (the
    /// segment's copy is shared memory: never trusted as an index bound).
    @usableFromInline var slotHigh: Int { min(Int(header.pointee.slot_high), slotCount) }

    /// The calling thread's slot in this mapping, claimed on first use.
    @inlinable @inline(__always)
    func mySlot() -> Int {
        let cache = cshm_tls()!
        if cache[0].serial == serial { return Int(cache[0].slot) }
        return mySlotSlow()
    }

    /// The calling thread's token in this mapping (its slot's, claimed on first use).
    @inlinable @inline(__always)
    func myToken() -> UInt64 {
        let cache = cshm_tls()!
        if cache[0].serial == serial { return cache[0].token }
        return slotsP[mySlotSlow()].token
    }

    @usableFromInline @inline(never)
    func mySlotSlow() -> Int {
        do {
            return try reserveSlot()
        } catch {
            preconditionFailure("\(error) (reserve a slot per thread with reserveSlot() to get this as an error)")
        }
    }

    /// Gives the calling thread a participant slot (if it has none yet) and attaches this process.
    /// Threads get a slot on first use anyway; call this first to get a full table as an error
    /// instead of a trap.
    /// - Throws: ``SharedBatchError/participantTableFull(capacity:)``,
    ///   ``SharedBatchError/processTableFull(capacity:)``.
    @discardableResult
    public func reserveSlot() throws(SharedBatchError) -> Int {
        let cache = cshm_tls()!
        for i in 0..<Int(CSHM_TLS_ENTRIES) where cache[i].serial == serial { return Int(cache[i].slot) }
        try attach()
        let proc = myProc.load(ordering: .relaxed)
        lockRaw()
        guard let found = (0..<slotCount).first(where: { slotsP[$0].proc == 0 }) else {
            unlockRaw()
            throw .participantTableFull(capacity: slotCount)
        }
        let slot = slotsP + found
        slot.pointee.serial &+= 1
        let token = UInt64(slot.pointee.serial) << 16 | UInt64(found + 1)
        slot.pointee.token = token
        slot.pointee.proc = UInt32(proc + 1)
        slot.pointee.pid = getpid()
        slot.pointee.phase = 0
        slot.pointee.coach = -1
        slot.pointee.channel = -1
        slot.pointee.holding = 0
        if header.pointee.slot_high < UInt32(found + 1) { header.pointee.slot_high = UInt32(found + 1) }
        unlockRaw()
        rememberSlot(found, token: token)
        return found
    }

    func rememberSlot(_ slot: Int, token: UInt64) {
        threadExitKey.register()
        let cache = cshm_tls()!
        guard
            let free = (0..<Int(CSHM_TLS_ENTRIES)).first(where: { cache[$0].serial == 0 || !isLive(cache[$0].serial) })
        else {
            preconditionFailure(
                "a thread takes part in more than \(CSHM_TLS_ENTRIES) shared segments at once: close some first")
        }
        // Keep the newest in entry 0: the common case is one segment per thread.
        cache[free] = cache[0]
        cache[0] = cshm_tls_entry(serial: serial, slot: Int64(slot), token: token)
    }

    /// Called on the exiting thread (pthread key destructor): frees its slot if it is idle.
    func releaseSlot(_ s: Int) {
        let closed = local.withLock { $0.closed }
        if closed { return }
        lockRaw()
        let slot = slotsP + s
        if slot.pointee.proc == UInt32(myProc.load(ordering: .relaxed) + 1) && slot.pointee.phase == 0 {
            slot.pointee.proc = 0
            slot.pointee.token = 0
        }
        unlockRaw()
    }

    // MARK: - Process lease

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
            lockRaw()
            guard let found = (0..<procCount).first(where: { procsP[$0].state == 0 }) else {
                unlockRaw()
                return .failure(.processTableFull(capacity: procCount))
            }
            let entry = procsP + found
            let rc = cshm_mutex_init(&entry.pointee.lease)
            precondition(rc == 0, "pthread_mutex_init (lease of segment \(name)) failed: \(rc)")
            let lease = LeaseThread(lease: &entry.pointee.lease)
            lease.start()
            entry.pointee.pid = getpid()
            entry.pointee.serial &+= 1
            cshm_atomic_store_i64(&entry.pointee.queued, 0)
            entry.pointee.state = 1  // only now: state == 1 implies the lease is held (or its owner died)
            if header.pointee.proc_high < UInt32(found + 1) { header.pointee.proc_high = UInt32(found + 1) }
            unlockRaw()
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
        lockRaw()
        let entry = procsP + p
        if entry.pointee.state == 1 && entry.pointee.serial == serial && entry.pointee.pid == getpid() {
            for s in 0..<slotHigh where slotsP[s].proc == UInt32(p + 1) {
                freeSlot(s)
            }
            cshm_atomic_store_i64(&entry.pointee.queued, 0)
            entry.pointee.state = 0
            recomputeSleepers()
            wakeEveryone()
        }
        unlockRaw()
    }

    func freeSlot(_ s: Int) {
        let slot = slotsP + s
        slot.pointee.phase = 0
        slot.pointee.coach = -1
        slot.pointee.channel = -1
        slot.pointee.holding = 0
        slot.pointee.proc = 0
        slot.pointee.token = 0
    }

    /// Whether a process entry's owner is dead. Under the lock. Frees the lease if so.
    func procIsDead(_ p: Int) -> Bool {
        let rc = cshm_mutex_trylock(&procsP[p].lease)
        switch rc {
        case EBUSY: return false
        case EOWNERDEAD:
            _ = cshm_mutex_consistent(&procsP[p].lease)
            _ = cshm_mutex_unlock(&procsP[p].lease)
            return true
        case 0:
            // Invariant: state == 1 only while the lease is held. Unheld means its owner is gone.
            _ = cshm_mutex_unlock(&procsP[p].lease)
            return true
        default:
            return true  // ENOTRECOVERABLE: the owner is gone too
        }
    }

    // MARK: - Crash repair (DESIGN.md §2, "Crash model")

    /// Under the lock: finds dead processes and repairs what their workers left, row by row of
    /// the crash table. Idempotent; does nothing (but a scan of the process table) when everyone
    /// is alive.
    ///
    /// - Parameter ownerDied: the lock came back `EOWNERDEAD`: its holder died, possibly in the
    ///   middle of a step. The state is first restored from the last snapshot (taken when the
    ///   lock was acquired and at each phase change under it), so that it matches every
    ///   participant's recorded phase again.
    func repair(ownerDied: Bool) {
        let me = myProc.load(ordering: .relaxed)
        var dead: [Int] = []
        for p in 0..<procCount where Int32(p) != me && procsP[p].state == 1 {
            if procIsDead(p) { dead.append(p) }
        }
        let high = slotHigh
        if ownerDied {
            // EOWNERDEAD proves that the thread holding the lock died, hence its process: its
            // lease may not be marked yet (the threads of a killed process exit one by one).
            let holder = cshm_atomic_load_u64(&coreP.pointee.holder)
            let s = Int(holder & 0xffff) - 1
            if holder != 0 && s >= 0 && s < high && slotsP[s].token == holder && slotsP[s].proc != 0 {
                let p = Int(slotsP[s].proc) - 1
                if Int32(p) != me && !dead.contains(p) { dead.append(p) }
            }
            let saved = Int(cshm_shadow_slot(shadowRef))
            let slotToo = saved != 0 && dead.contains(Int(slotsP[saved - 1].proc) - 1)
            cshm_restore(shadowRef, slotToo ? 1 : 0)
            // Whenever the lock is free, nobody holds the critical section.
            cshm_atomic_store_u64(&coreP.pointee.holder, 0)
            coreP.pointee.holder_state = 0
            coreP.pointee.holder_coach = 0
        }
        if dead.isEmpty {
            if ownerDied {
                // The dead holder's owed wakes (issued after unlock) died with it, and the
                // restored state may be one its sleepers wait for: wake them all to re-check.
                recomputeSleepers()
                wakeEveryone()
                cshm_checkpoint(shadowRef, UInt32.max, 0, -1)
            }
            return
        }
        let engine = _BatchEngine(home: repairHome)
        for p in dead {
            // Queued, or waiting to enter: its announcements stop counting.
            let queued = cshm_atomic_load_i64(&procsP[p].queued)
            cshm_atomic_store_i64(&procsP[p].queued, 0)
            var repaired = 0
            for s in 0..<high where slotsP[s].proc == UInt32(p + 1) {
                if repairSlot(s, engine: engine) { repaired += 1 }
                cshm_checkpoint(shadowRef, UInt32.max, 0, -1)
            }
            if repaired == 0 && queued != 0 { cshm_counter_bump(&header.pointee.crashes) }
            procsP[p].state = 0
        }
        recomputeSleepers()
        wakeEveryone()
        cshm_checkpoint(shadowRef, UInt32.max, 0, -1)
    }

    /// One dead participant: its row of the crash table, then its slot is freed. Returns
    /// whether it had anything to repair (counted in `crashesRecovered`).
    func repairSlot(_ s: Int, engine: _BatchEngine<_RepairHome>) -> Bool {
        let slot = slotsP + s
        let pid = slot.pointee.pid
        var repaired = false
        let c = Int(slot.pointee.coach)
        let phase = _WorkerPhase(rawValue: slot.pointee.phase) ?? .idle
        if phase == .queued { repaired = true }
        if c >= 0 && c < coachCount {
            let co = coachesP + c
            switch phase {
            case .entered:
                // Entered, before commit: its change may be half done; poison the batch.
                repaired = true
                if co.pointee.count > 0 { engine.close(coach: c, error: BatchError.workerCrashed(pid: pid)) }
                exitDead(c, engine: engine)
            case .waiting, .done:
                // Its data is in the batch (waiting) or it has its outcome (done): count its exit.
                repaired = true
                exitDead(c, engine: engine)
            case .committing:
                // The committer died between the start of the commit function and publishing.
                repaired = true
                if co.pointee.count < 0 && co.pointee.ready == 0 {
                    engine.publish(BatchError.outcomeUnknown(committerPID: pid), coach: c)
                }
                exitDead(c, engine: engine)
            case .idle, .queued:
                break
            }
        }
        if repaired { cshm_counter_bump(&header.pointee.crashes) }
        freeSlot(s)
        return repaired
    }

    func exitDead(_ c: Int, engine: _BatchEngine<_RepairHome>) {
        if coachesP[c].count != 0 { _ = engine.exitStep(coach: c) }
    }

    /// Sleeper counts from the slots (a dead sleeper is no longer counted).
    func recomputeSleepers() {
        for ch in 0...coachCount { sleepersP(ch).pointee = 0 }
        for s in 0..<slotHigh where slotsP[s].proc != 0 {
            let ch = Int(slotsP[s].channel)
            if ch >= 0 && ch <= coachCount { sleepersP(ch).pointee += 1 }
        }
    }

    func wakeEveryone() {
        for ch in 0...coachCount { wake(ch, all: true) }
    }

    // MARK: - The queue: a sum of per-process counters

    @inlinable var myQueue: UnsafeMutablePointer<Int64> {
        let p = Int(myProc.load(ordering: .relaxed))
        precondition(p >= 0, "segment \(name) used before a coordinator attached this process")
        return (UnsafeMutableRawPointer(procsP + p) + Int(CSHM_PROC_QUEUED_OFFSET)).assumingMemoryBound(to: Int64.self)
    }

    /// Lock free: announce a worker of this process. One atomic add on this process's entry, so
    /// a death at any instant leaves a count that repair can discount exactly.
    @inlinable
    func queueIn() -> Int {
        _ = cshm_atomic_add_i64(myQueue, 1)
        return queueLength
    }

    /// Takes back an announcement of this process.
    @inlinable
    func queueOut() -> Int {
        _ = cshm_atomic_add_i64(myQueue, -1)
        return queueLength
    }

    /// The sum of the processes' announcements; exact under the lock.
    @inlinable @inline(__always)
    var queueLength: Int {
        let high = min(Int(cshm_atomic_load_u32(&header.pointee.proc_high)), procCount)
        var sum: Int64 = 0
        for p in 0..<high { sum += cshm_atomic_load_i64(&procsP[p].queued) }
        return Int(sum)
    }

    /// Records the calling worker's phase; under the lock it is also a consistent point, saved.
    /// Inlined: it runs five times per operation.
    @inlinable @inline(__always)
    func note(_ phase: _WorkerPhase, coach c: Int, slot s: Int) {
        // Under the lock: entered, waiting, committing, done, and idle on exit (coach >= 0).
        // (queued and idle after queueOut come without it; idle after a busy enter changed nothing.)
        if phase != .queued && c >= 0 {
            if phase == .entered && coachesP[c].count == 1 {
                // First worker of a batch: the previous batch's records are gone.
                cshm_atomic_store_u64(arenaUsedP(c), 0)
            }
            // One C call: the checkpoint (with the new phase), then the slot's phase and coach.
            cshm_note_locked(
                shadowRef, UInt32(truncatingIfNeeded: s), phase.rawValue,
                phase == .idle ? -1 : Int32(truncatingIfNeeded: c))
        } else {
            let slot = slotsP + s
            cshm_atomic_store_u32(&slot.pointee.phase, phase.rawValue)
            cshm_atomic_store_i32(&slot.pointee.coach, -1)
        }
        if phase != .committing, let hook = cshm_get_phase_hook() { hook(phase.rawValue) }
    }
}

/// Runs the pthread key destructor on threads that used a segment, so that their slots are freed.
final class ThreadExitKey: Sendable {
    let key: pthread_key_t

    init() {
        var key = pthread_key_t()
        let rc = pthread_key_create(&key) { _ in
            let cache = cshm_tls()!
            for i in 0..<Int(CSHM_TLS_ENTRIES) where cache[i].serial != 0 {
                let serial = cache[i].serial
                let slot = Int(cache[i].slot)
                cache[i].serial = 0
                // Under the registry lock: a segment's deinit unregisters it under the same lock
                // before anything is torn down, so the reference stays valid during the call.
                liveSegments.withLock { registry in
                    registry[serial]?.segment._withUnsafeGuaranteedRef { $0.releaseSlot(slot) }
                }
            }
        }
        precondition(rc == 0, "pthread_key_create failed: \(rc)")
        self.key = key
    }

    /// Makes sure the destructor runs when the calling thread exits.
    func register() {
        if pthread_getspecific(key) == nil {
            _ = pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1))
        }
    }
}
let threadExitKey = ThreadExitKey()

func isLive(_ serial: UInt64) -> Bool {
    liveSegments.withLock { $0[serial] != nil }
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

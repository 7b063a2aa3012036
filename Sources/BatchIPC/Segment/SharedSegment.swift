import Batch
import CBatchCore
import CShmSync
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A POSIX shared-memory segment that holds batches: the algorithm's state, its robust mutex and
/// wait channels, the participant and process tables, the user's state and record arenas, and
/// live counters.
///
/// Create it once (``create(name:configuration:)``), open it in every other process
/// (``open(name:)``), or let every process call ``openOrCreate(name:configuration:)``. Then make
/// what your workers use over it — ``SharedBatcher`` or ``AsyncSharedBatcher`` (submit one record,
/// get its batch's result), ``SharedCoordinator`` or ``AsyncSharedCoordinator`` (one coach, your
/// own state), ``SharedMulti`` or ``AsyncSharedMulti`` (several coaches); threads and tasks of any
/// process may share it. ``close()`` detaches this process
/// (its coordinators then fail safely); ``unlink(name:)`` removes the name (mappings stay valid).
///
/// Reading ``counters`` and ``status()`` never takes the lock and never disturbs a batch, so a
/// monitoring process can open a segment without taking part.
///
/// Everything read from the segment is input from another process (docs/IPC.md, "Trust model"):
/// a value this library never writes makes the calls that meet it throw
/// ``SharedBatchError/corruptSegment(name:field:detail:)``, and this process stops using the
/// segment (``failure``).
public final class SharedSegment: @unchecked Sendable {
    // @unchecked Sendable: the mapping's address and every `let` below never change while the
    // segment is open; everything mutable is either in the segment (guarded by its robust mutex,
    // or atomic, as cshm_layout.h says field by field) or process-local and guarded by `local`,
    // an atomic, or the segment mutex (`pendingWakes`, `localErrors`).

    /// The segment's name, with its leading `/`.
    public let name: String
    /// The capacities stored in the segment.
    public let configuration: SharedBatchConfiguration
    /// The number of coaches in the segment.
    public let coachCount: Int

    // MARK: The mapping and where its regions are, from the validated header (never re-read).

    /// The mapping. Its address never changes while the object lives (`deinit` unmaps it).
    @usableFromInline let base: UnsafeMutableRawPointer
    /// Bytes mapped (= the segment's size).
    let size: Int
    @usableFromInline let header: UnsafeMutablePointer<cshm_header>
    @usableFromInline let mutexP: UnsafeMutablePointer<pthread_mutex_t>
    /// The kind every mutex of the segment must have (`cshm_mutex_expected_kind`): checked before
    /// each call into glibc, which dispatches on it.
    @usableFromInline let mutexKind: Int32 = cshm_mutex_expected_kind()
    @usableFromInline let coreP: UnsafeMutablePointer<cbatch_core>
    @usableFromInline let coachesP: UnsafeMutablePointer<cbatch_coach>
    @usableFromInline let slotsP: UnsafeMutablePointer<cshm_slot>
    @usableFromInline let procsP: UnsafeMutablePointer<cshm_proc>
    /// Where the crash snapshots are (see `cshm_shadow_ref`). Process memory, written once.
    @usableFromInline let shadowRef: UnsafeMutablePointer<cshm_shadow_ref>
    @usableFromInline let slotCount: Int
    @usableFromInline let procCount: Int
    /// `configuration.resultCapacity`, `stateSize` and `arenaCapacity`, for the inlined hot path.
    @usableFromInline let resultCapacity: Int
    @usableFromInline let stateSize: Int
    @usableFromInline let arenaCapacity: Int
    @usableFromInline let resultStride: Int
    @usableFromInline let resultsOffset: Int
    @usableFromInline let stateStride: Int
    @usableFromInline let stateOffset: Int
    @usableFromInline let arenaStride: Int
    @usableFromInline let arenaOffset: Int
    /// The liveness period in nanoseconds (from the header).
    @usableFromInline let livenessNS: Int64
    /// The segment file's device and inode: how a lock owner is recognised as a user of it.
    let fileID: (device: UInt64, inode: UInt64)

    // MARK: Process-local state.

    /// Process-unique number of this mapping (never reused): the key of the per-thread slot cache
    /// and of the registry. `close()` gives it a new, unregistered number, so that no thread's
    /// cached slot (free by then, or another's) is used any more.
    @usableFromInline let serialWord: Atomic<UInt64>
    @inlinable @inline(__always) var serial: UInt64 { serialWord.load(ordering: .relaxed) }
    /// This process's pid, read once (`getpid` is a system call; a process attaches after exec,
    /// never across fork).
    @usableFromInline let pid = getpid()
    /// Attachment state: the lease thread, the process entry, the closed flag. Under its lock.
    let local = ProcessLock(LocalState())
    /// Set once, when this process finds the segment unusable (``failure``); never cleared.
    /// Read without a lock by `enter`, so that nothing new starts on a corrupt segment.
    @usableFromInline let isBroken = Atomic<Bool>(false)
    /// Set once, when no thread of this process may go on waiting for the segment's lock or
    /// channels: it was found corrupt, or this process detached (its slots are free, maybe
    /// another's). `close()` alone does not set it: the workers still inside a batch finish it.
    let stopWaiting = Atomic<Bool>(false)
    /// The first ``failure`` recorded. Its own lock: it is recorded from under `local` too.
    let failureRecord = ProcessLock<SharedBatchError?>(nil)
    /// This process's entry in the process table, -1 while not attached. Written by `attach`
    /// and by `close()` (back to -1).
    @usableFromInline let myProc = Atomic<Int32>(-1)
    /// The wait channels (futex words in the segment) and the wakes owed by the holder of the
    /// segment mutex (process memory, read and written only by that thread), issued by `unlock`
    /// once the mutex is released.
    @usableFromInline let futex: _FutexChannels
    /// What the waiting policy measured, in the header (untrusted: the engine clamps it).
    @usableFromInline let policyP: UnsafeMutablePointer<cbatch_policy>
    /// Per participant slot, the phase of this process's worker in it, as that worker recorded it
    /// (`note`): process memory, so that `close()` waits for workers of this process that are
    /// really inside a batch, not for what another process wrote into the segment. Atomic loads
    /// and stores (the closing thread reads what workers write).
    @usableFromInline let localPhases: UnsafeMutablePointer<UInt32>
    /// Per participant slot, the rest of what this process knows of its worker there, apart from
    /// the section's holder fields (``ownRecord(token:)``): the coach it last entered (its
    /// phases until it is idle are in that coach), and whether it keeps the mutex for that
    /// section. Written by that worker under the lock when it enters (`note`), read by that
    /// worker only. `unrecorded`: the worker began its batch alone and has kept the mutex since,
    /// and its phases since entering are in ``localPhases`` only, not yet in the segment
    /// (`noteKeepingLock`); set and cleared by that worker under the mutex.
    @usableFromInline let localSections: UnsafeMutablePointer<(coach: Int32, keepsLock: Bool, unrecorded: Bool)>
    /// Where this process's announcements go while it is not attached (before a coordinator, or
    /// after `close()`): process memory, so that a late `queueIn` never counts on an entry that
    /// another process may own by then. Atomic adds only.
    @usableFromInline let detachedQueue: UnsafeMutablePointer<Int64>
    /// Per coach, in the committer's own process: the original error of the last outcome it
    /// published, with the coach generation. Read and written only under the segment mutex.
    let localErrors: UnsafeMutablePointer<(generation: UInt64, error: any Error)?>
    /// What this process's async workers use (the parking thread, the seats), made by the first
    /// async coordinator or batcher; ended by `close()`.
    let asyncTasks = ProcessLock<SegmentTasks?>(nil)
    /// Whether this process saw the segment's `async_workers` flag set (see `hasAsyncWorkers`).
    /// Never cleared. Any thread, atomic.
    @usableFromInline let asyncWorkersSeen = Atomic<Bool>(false)
    /// ``yieldBudget`` in nanoseconds, already bounded by a quarter of the liveness period. Any
    /// thread reads and writes it atomically (relaxed: a waiter may use the previous value once).
    @usableFromInline let yieldBudgetNS: Atomic<Int64>
    /// The segment's state seen by the engine's steps, for crash repair and the waiting policy:
    /// made once, it refers back to this segment without retaining it.
    var state: _SegmentState { _state! }
    private var _state: _SegmentState?

    struct LocalState {
        /// `close()` was called: this process detached (or is detaching); nothing new attaches.
        var closed = false
        /// Index of this process's entry in the process table, -1 while not attached.
        var proc: Int32 = -1
        var lease: LeaseThread?
        /// The serial of the process entry when this process claimed it.
        var leaseSerial: UInt64 = 0
    }

    /// A segment over a mapping; `h` is the header `check` validated (or `create` wrote): the
    /// copy, never the segment's words again (another process may have changed them since).
    init(
        name: String, base: UnsafeMutableRawPointer, size: Int, fileID: (device: UInt64, inode: UInt64),
        header h: cshm_header
    ) {
        self.name = name
        self.base = base
        self.size = size
        self.fileID = fileID
        self.serialWord = Atomic(segmentSerials.add(1, ordering: .relaxed).newValue)
        header = base.assumingMemoryBound(to: cshm_header.self)
        coachCount = Int(h.coaches)
        slotCount = Int(h.slots)
        procCount = Int(h.procs)
        livenessNS = Int64(h.liveness_ns)
        yieldBudgetNS = Atomic(min(1_000_000, Int64(h.liveness_ns) / 4))
        resultCapacity = Int(h.result_capacity)
        stateSize = Int(h.state_size)
        arenaCapacity = Int(h.arena_capacity)
        configuration = SharedBatchConfiguration(
            coaches: Int(h.coaches), participants: Int(h.slots), processes: Int(h.procs),
            stateSize: Int(h.state_size), arenaCapacity: Int(h.arena_capacity),
            resultCapacity: Int(h.result_capacity), livenessPeriod: .nanoseconds(Int64(h.liveness_ns)))
        mutexP = cshm_header_mutex(header)
        coreP = cshm_header_core(header)
        policyP = cshm_header_policy(header)
        coachesP = (base + Int(h.off_coaches)).assumingMemoryBound(to: cbatch_coach.self)
        slotsP = (base + Int(h.off_slots)).assumingMemoryBound(to: cshm_slot.self)
        procsP = (base + Int(h.off_procs)).assumingMemoryBound(to: cshm_proc.self)
        shadowRef = .allocate(capacity: 1)
        let shadow0 = (base + Int(h.off_shadow)).assumingMemoryBound(to: UInt8.self)
        shadowRef.initialize(
            to: cshm_shadow_ref(
                shadow: (shadow0, shadow0 + Int(h.stride_shadow)), coaches: coachesP, slots: slotsP, core: coreP,
                current: cshm_header_shadow_current(header), ncoaches: h.coaches, nslots: h.slots))
        resultStride = Int(h.stride_result)
        resultsOffset = Int(h.off_results)
        stateStride = Int(h.stride_state)
        stateOffset = Int(h.off_state)
        arenaStride = Int(h.stride_arena)
        arenaOffset = Int(h.off_arena)
        let pendingWakes = UnsafeMutablePointer<UInt64>.allocate(capacity: 2)
        pendingWakes.initialize(repeating: 0, count: 2)
        futex = _FutexChannels(
            channels: (base + Int(h.off_channels)).assumingMemoryBound(to: cbatch_channel.self),
            pendingWakes: pendingWakes, shared: true)
        detachedQueue = .allocate(capacity: 1)
        detachedQueue.initialize(to: 0)
        localPhases = .allocate(capacity: Int(h.slots))
        localPhases.initialize(repeating: WorkerPhase.idle.rawValue, count: Int(h.slots))
        localSections = .allocate(capacity: Int(h.slots))
        localSections.initialize(repeating: (-1, false, false), count: Int(h.slots))
        localErrors = .allocate(capacity: Int(h.coaches))
        localErrors.initialize(repeating: nil, count: Int(h.coaches))
        _state = _SegmentState(segment: self)
        liveSegments.withLock { $0[serial] = RegisteredSegment(segment: Unmanaged.passUnretained(self)) }
    }

    deinit {
        close()
        munmap(base, size)
        localErrors.deinitialize(count: coachCount).deallocate()
        shadowRef.deallocate()
        futex.pendingWakes.deallocate()
        detachedQueue.deallocate()
        localPhases.deallocate()
        localSections.deallocate()
    }

    /// Detaches this process: it waits until no worker of this process is inside a batch (a
    /// worker still announced, or waiting to enter, gets ``SharedBatchError/closed(name:)``),
    /// then releases its participant slots and its process entry. Afterwards every call on a
    /// coordinator over this segment fails safely — the safe API and `commit` throw
    /// ``SharedBatchError/closed(name:)``, `enter()` returns -1 — as after ``failure``;
    /// ``counters`` and ``status()`` keep working (the mapping is removed with the segment
    /// object). Idempotent; the segment's deinit calls it too.
    ///
    /// Calling it from inside a batch of this segment is a programmer error (it would wait for
    /// itself): it traps with a message.
    public func close() {
        let first = local.withLock { state -> Bool in
            if state.closed { return false }
            state.closed = true
            return true
        }
        guard first else { return }
        broken(.closed(name: name))  // nothing new starts
        let (proc, serial, lease) = local.withLock { state -> (Int32, UInt64, LeaseThread?) in
            defer {
                state.lease = nil
                state.proc = -1
            }
            return (state.proc, state.leaseSerial, state.lease)
        }
        // Unregister first: a thread-exit destructor releases slots only under the registry
        // lock and only for registered segments, so it never touches the slots after this.
        liveSegments.withLock { _ = $0.removeValue(forKey: self.serial) }
        if let lease, proc >= 0, detach(proc: Int(proc), serial: serial, lease: lease) {
            // The slots are free: no cached one may be used again.
            serialWord.store(segmentSerials.add(1, ordering: .relaxed).newValue, ordering: .relaxed)
        }
        stopWaiting.store(true, ordering: .releasing)
        // Last: the parking thread resumed this process's tasks in a batch while `detach` waited
        // for them to leave; those still suspended now wake to find the segment closed.
        asyncTasks.withLock { $0 }?.parking.stop()
    }

    /// Why this process stopped using the segment, `nil` while it uses it: the error that every
    /// later call that can throw throws — ``SharedBatchError/corruptSegment(name:field:detail:)``
    /// when it found the segment corrupt, ``SharedBatchError/closed(name:)`` after ``close()``.
    /// Calls that cannot throw fail safely instead: `enter()` returns -1 (or `(-1, -1)`), as a
    /// non-blocking enter that gives up; `notify()`, `trigger()` and `exit()` do nothing more
    /// than they safely can. Set once, never cleared: remove the segment and make a new one.
    public var failure: SharedBatchError? {
        guard isBroken.load(ordering: .acquiring) else { return nil }
        return failureRecord.withLock { $0 }
    }

    /// Records that this process stops using the segment (the first reason stays) and returns
    /// `error`.
    @discardableResult
    func broken(_ error: SharedBatchError) -> SharedBatchError {
        failureRecord.withLock { if $0 == nil { $0 = error } }
        isBroken.store(true, ordering: .releasing)
        if case .corruptSegment = error { stopWaiting.store(true, ordering: .releasing) }
        return error
    }

    /// The ``failure`` when no thread of this process may wait any more (`stopWaiting`).
    var waitingStopped: SharedBatchError? {
        stopWaiting.load(ordering: .acquiring) ? failure : nil
    }

    /// How long a waiter of this process may yield the CPU before it sleeps, when what it waits
    /// for is a few steps of other workers away (its batch still filling or already published, or
    /// no commit function running while it waits to enter). A worker that starts waiting while a
    /// commit function runs sleeps at once; one that is already yielding when its batch closes
    /// keeps yielding through the commit, up to the budget (that is what lets it take the outcome
    /// without a wake-up: stopping there cost a sixth of the group-commit gain).
    ///
    /// With more runnable workers than CPUs, yielding runs the very workers it waits for and
    /// spares a sleep and a wake-up: group commit with 8 processes on 2 CPUs gets ~30 % faster
    /// (docs/BENCHMARKS.md). The price is CPU time while waiting. Default: 1 ms, at most 256
    /// yields. At most a quarter of the liveness period (a yielding waiter does not look for dead
    /// participants). `.zero`: always sleep at once. Per process; any thread may set it.
    public var yieldBudget: Duration {
        get { .nanoseconds(yieldBudgetNS.load(ordering: .relaxed)) }
        set {
            yieldBudgetNS.store(min(max(0, newValue.saturatingNanoseconds), livenessNS / 4), ordering: .relaxed)
        }
    }

    // MARK: - Hooks

    /// Called in this process at every phase change of its workers (queued, entered, waiting,
    /// committing — at the start of the commit function —, done, idle) with the phase's raw
    /// value (``/Batch/WorkerPhase``), on the worker's thread, sometimes under the segment's lock.
    ///
    /// For fault injection and tracing: a test, or `batch-shm-demo --crash PHASE`, kills its own
    /// process here (`kill(getpid(), SIGKILL)`) to die exactly in a phase. It must not call into
    /// the library. Process-wide; `nil` (the default) costs one load per phase change.
    public static var phaseHook: (@convention(c) (UInt32) -> Void)? {
        get { cshm_get_phase_hook() }
        set { cshm_set_phase_hook(newValue) }
    }

    /// Called right before the segment gets its name in ``create(name:configuration:)``: a test
    /// helper kills itself here to prove that a creator dying mid-initialisation blocks nobody.
    @_spi(Testing) nonisolated(unsafe) public static var _createHook: (@convention(c) () -> Void)?

    /// Called inside crash repair, under the lock, at the points where a repairer that dies
    /// must leave a state the next one can finish (``_RepairPoint``): a test helper kills itself
    /// there to prove it. Process-wide; `nil` (the default) costs one load per repair.
    @_spi(Testing) nonisolated(unsafe) public static var _repairHook: (@convention(c) (UInt32) -> Void)?

    /// Called under the lock at every phase change recorded with a snapshot, after the snapshot
    /// and before the slot's phase is stored, with the phase's raw value: a test helper dies
    /// there to leave a snapshot newer than the slot. Process-wide; `nil` by default.
    @_spi(Testing) public static var _checkpointHook: (@convention(c) (UInt32) -> Void)? {
        get { cshm_get_checkpoint_hook() }
        set { cshm_set_checkpoint_hook(newValue) }
    }

    /// For tests: this process records the segment as corrupt (``failure``) without telling the
    /// others yet — they are told (the header's `found_corrupt`) when a worker of it then gives up
    /// a wait or the lock (``givesUp(_:)``).
    @_spi(Testing) public func _foundCorrupt(_ detail: String) {
        broken(.corruptSegment(name: name, field: "test", detail: detail))
    }

    /// For crash tests, from ``_checkpointHook``: makes the snapshot before the one just taken
    /// current again, so that a thread ending in the hook leaves what a death just before the
    /// checkpoint leaves — the state of the step newer than the snapshot — without a second hook
    /// on the hot path.
    @_spi(Testing) public func _undoCheckpoint() {
        cshm_atomic_store_u32(&header.pointee.shadow_current, header.pointee.shadow_current ^ 1)
    }

    /// For tests: whether some thread holds the segment's mutex now (the owner bits of its lock
    /// word; a racy read that takes nothing).
    @_spi(Testing) public var _mutexIsHeld: Bool { cshm_mutex_word(mutexP) & UInt32(FUTEX_TID_MASK) != 0 }

    /// For crash tests: ends the calling thread at once (the raw exit system call: no unwinding,
    /// no thread-local destructors); the kernel releases the robust mutexes it holds, and the
    /// rest of the process — its lease included — lives on.
    @_spi(Testing) public static func _exitThisThreadNow() -> Never { cshm_exit_thread_now() }

    /// For crash tests: attaches, takes the segment's mutex, and SIGKILLs this process while it
    /// holds it — between two phase changes, the crash snapshot untouched since the last one.
    @_spi(Testing) public func _dieHoldingTheLock() throws(SharedBatchError) -> Never {
        try attach()
        try lock()
        kill(getpid(), SIGKILL)
        preconditionFailure("survived SIGKILL")
    }
}

/// Not API: where ``SharedSegment/_repairHook`` is called during a crash repair.
@_spi(Testing) public enum _RepairPoint: UInt32, CaseIterable, Sendable {
    /// The snapshot restored after `EOWNERDEAD`; no dead participant repaired yet.
    case restored = 1
    /// A dead participant's row applied to the coaches; its slot not yet recorded idle.
    case rowApplied = 2
    /// That slot recorded idle with a snapshot of the repaired coaches, and freed; the repair's
    /// closing snapshot not yet taken.
    case slotFreed = 3
}

extension SharedSegment {
    /// Under the lock: whether async workers take part (or ever took part) in this segment: then
    /// every worker holds the mutex only for a step. Remembered by this process once seen, so
    /// that a header rewritten to 0 cannot switch a worker's mode in the middle of its section.
    @inlinable
    var hasAsyncWorkers: Bool {
        if asyncWorkersSeen.load(ordering: .relaxed) { return true }
        guard cshm_atomic_load_u32(&header.pointee.async_workers) != 0 else { return false }
        asyncWorkersSeen.store(true, ordering: .relaxed)
        return true
    }

    /// Under the lock: an async coordinator of this process attaches: from now on, the mutex is
    /// held only for a step by everyone.
    func markAsyncWorkers() {
        cshm_atomic_store_u32(&header.pointee.async_workers, 1)
        asyncWorkersSeen.store(true, ordering: .relaxed)
    }
}

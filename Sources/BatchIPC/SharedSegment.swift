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
/// (``open(name:)``), or let every process call ``openOrCreate(name:configuration:)``. Then make a
/// ``SharedCoordinator`` (one coach) or ``SharedMulti`` over it. ``close()`` detaches this process;
/// ``unlink(name:)`` removes the name (mappings stay valid until closed).
///
/// Reading ``counters`` and ``status()`` never takes the lock and never disturbs a batch, so a
/// monitoring process can open a segment without taking part.
public final class SharedSegment: @unchecked Sendable {
    // @unchecked Sendable: the mapping's address and the immutable header fields never change
    // while the segment is open; everything mutable is either in the segment (guarded by its
    // robust mutex or atomic) or process-local and guarded by `local`.

    /// The segment's name, with its leading `/`.
    public let name: String
    /// The capacities stored in the segment.
    public let configuration: SharedBatchConfiguration
    /// `configuration.resultCapacity`, for the inlined hot path.
    @usableFromInline let resultCapacity: Int
    /// `configuration.stateSize` and `arenaCapacity`, for the inlined hot path.
    @usableFromInline let stateSize: Int
    @usableFromInline let arenaCapacity: Int
    /// The mapping. Its address never changes until `close()`.
    @usableFromInline let base: UnsafeMutableRawPointer
    /// Bytes mapped (= the segment's size).
    let size: Int
    /// Process-unique number of this mapping (never reused): the key of the per-thread slot cache.
    @usableFromInline let serial: UInt64
    /// Process-local attachment state: the lease thread, the process entry, closed flag.
    let local = ProcessLock(LocalState())
    /// Per coach, in the committer's own process: the original error of the last outcome it
    /// published, with the coach generation. Read and written only under the segment mutex.
    let localErrors: UnsafeMutablePointer<(generation: UInt64, error: any Error)?>
    /// The liveness period in nanoseconds (from the header).
    let livenessNS: Int64
    /// Wakes owed by the holder of the segment mutex, issued by `unlockRaw` once the mutex is
    /// released (word 0: wake one, word 1: wake all; bit n: channel n < 64). Process memory,
    /// read and written only by the thread holding the segment mutex.
    @usableFromInline let pendingWakes: UnsafeMutablePointer<UInt64>
    /// This process's pid, read once (`getpid` is a system call; a process attaches after exec,
    /// never across fork).
    @usableFromInline let pid = getpid()
    /// This process's entry in the process table, -1 until attached. Written once in `attach`.
    @usableFromInline let myProc = Atomic<Int32>(-1)
    /// ``yieldBudget`` in nanoseconds, already bounded by a quarter of the liveness period. Any
    /// thread reads and writes it atomically (relaxed: a waiter may use the previous value once).
    let yieldBudgetNS: Atomic<Int64>
    /// A home for crash repair, which runs the engine's steps without a commit function.
    var repairHome: _RepairHome { _RepairHome(segment: self) }

    struct LocalState {
        var closed = false
        /// Index of this process's entry in the process table, -1 while not attached.
        var proc: Int32 = -1
        var lease: LeaseThread?
        /// The serial of the process entry when this process claimed it.
        var leaseSerial: UInt64 = 0
    }

    @inlinable var header: UnsafeMutablePointer<cshm_header> {
        base.assumingMemoryBound(to: cshm_header.self)
    }
    @inline(__always) var coreP: UnsafeMutablePointer<cshm_core> {
        UnsafeMutableRawPointer(header).advanced(by: MemoryLayout<cshm_header>.offset(of: \.core)!)
            .assumingMemoryBound(to: cshm_core.self)
    }
    @inlinable var mutexP: UnsafeMutablePointer<pthread_mutex_t> {
        (base + 320).assumingMemoryBound(to: pthread_mutex_t.self)  // offsetof(cshm_header, mutex), asserted in C
    }
    @usableFromInline let channelsP: UnsafeMutablePointer<cshm_channel>
    @usableFromInline let coachesP: UnsafeMutablePointer<cshm_coach>
    @usableFromInline let slotsP: UnsafeMutablePointer<cshm_slot>
    @usableFromInline let procsP: UnsafeMutablePointer<cshm_proc>
    /// Where the crash snapshots are, from the validated header (see `cshm_shadow_ref`).
    /// Process memory, written once in `init`.
    @usableFromInline let shadowRef: UnsafeMutablePointer<cshm_shadow_ref>
    /// The number of coaches in the segment.
    public let coachCount: Int
    @usableFromInline let slotCount: Int
    @usableFromInline let procCount: Int
    @usableFromInline let resultStride: Int
    @usableFromInline let resultsOffset: Int
    @usableFromInline let stateStride: Int
    @usableFromInline let stateOffset: Int
    @usableFromInline let arenaStride: Int
    @usableFromInline let arenaOffset: Int

    init(name: String, base: UnsafeMutableRawPointer, size: Int) {
        self.name = name
        self.base = base
        self.size = size
        self.serial = segmentSerials.add(1, ordering: .relaxed).newValue
        let h = base.assumingMemoryBound(to: cshm_header.self).pointee
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
        channelsP = (base + Int(h.off_channels)).assumingMemoryBound(to: cshm_channel.self)
        coachesP = (base + Int(h.off_coaches)).assumingMemoryBound(to: cshm_coach.self)
        slotsP = (base + Int(h.off_slots)).assumingMemoryBound(to: cshm_slot.self)
        procsP = (base + Int(h.off_procs)).assumingMemoryBound(to: cshm_proc.self)
        shadowRef = .allocate(capacity: 1)
        let shadow0 = (base + Int(h.off_shadow)).assumingMemoryBound(to: UInt8.self)
        shadowRef.initialize(
            to: cshm_shadow_ref(
                shadow: (shadow0, shadow0 + Int(h.stride_shadow)), coaches: coachesP, slots: slotsP,
                current: (UnsafeMutableRawPointer(base) + MemoryLayout<cshm_header>.offset(of: \.shadow_current)!)
                    .assumingMemoryBound(to: UInt32.self),
                ncoaches: h.coaches, nslots: h.slots))
        resultStride = Int(h.stride_result)
        resultsOffset = Int(h.off_results)
        stateStride = Int(h.stride_state)
        stateOffset = Int(h.off_state)
        arenaStride = Int(h.stride_arena)
        arenaOffset = Int(h.off_arena)
        pendingWakes = .allocate(capacity: 2)
        pendingWakes.initialize(repeating: 0, count: 2)
        localErrors = .allocate(capacity: Int(h.coaches))
        localErrors.initialize(repeating: nil, count: Int(h.coaches))
        liveSegments.withLock { $0[serial] = RegisteredSegment(segment: Unmanaged.passUnretained(self)) }
    }

    deinit {
        close()
        localErrors.deinitialize(count: coachCount).deallocate()
        shadowRef.deallocate()
        pendingWakes.deallocate()
    }

    // MARK: - Names

    /// Checks a segment name: one leading `/`, no other `/`, not `/.` or `/..`, no NUL, at most
    /// 255 bytes.
    /// - Throws: ``SharedBatchError/invalidName(_:reason:)``.
    public static func validate(name: String) throws(SharedBatchError) {
        let bytes = Array(name.utf8)
        guard bytes.first == UInt8(ascii: "/") else { throw .invalidName(name, reason: "it must start with '/'") }
        guard bytes.count >= 2 else { throw .invalidName(name, reason: "it is empty after the '/'") }
        guard bytes.count <= 255 else { throw .invalidName(name, reason: "it is longer than 255 bytes") }
        guard !bytes.dropFirst().contains(UInt8(ascii: "/")) else {
            throw .invalidName(name, reason: "it contains a '/' after the first character")
        }
        guard !bytes.contains(0) else { throw .invalidName(name, reason: "it contains a NUL byte") }
        guard name != "/." && name != "/.." else { throw .invalidName(name, reason: "'.' and '..' are not names") }
    }

    /// Where glibc keeps POSIX shared-memory objects on Linux (`shm_open` opens `/dev/shm/NAME`).
    static let directory = "/dev/shm"

    // MARK: - Create, open, unlink

    /// Creates a segment named `name` with `configuration`; fails if the name exists.
    ///
    /// The segment is built unnamed (`O_TMPFILE` in `/dev/shm`, mode 0600), fully initialised,
    /// and only then given its name with `linkat`, so no process ever sees a half-initialised
    /// segment, and a creator that dies while initialising leaves nothing behind.
    /// - Throws: ``SharedBatchError``: an invalid name or configuration, `.alreadyExists`, or a
    ///   failed system call.
    public static func create(name: String, configuration: SharedBatchConfiguration) throws(SharedBatchError)
        -> SharedSegment
    {
        try validate(name: name)
        try configuration.validate()
        var h = cshm_header()
        h.coaches = UInt32(configuration.coaches)
        h.slots = UInt32(configuration.participants)
        h.procs = UInt32(configuration.processes)
        h.state_size = UInt64(configuration.stateSize)
        h.arena_capacity = UInt64(configuration.arenaCapacity)
        h.result_capacity = UInt64(configuration.resultCapacity)
        h.liveness_ns = UInt64(configuration.livenessNanoseconds)
        guard cshm_layout(&h) == 0 else { throw .invalidConfiguration("capacities out of range") }
        h.magic = CSHM_MAGIC
        h.version = CSHM_VERSION
        h.creator_uid = geteuid()
        h.creator_pid = UInt32(bitPattern: getpid())
        h.pid_namespace = cshm_pid_namespace()

        let fd = cshm_tmpfile(directory)
        guard fd >= 0 else { throw .system(operation: "open(\(directory), O_TMPFILE)", name: name, errno: -fd) }
        defer { Glibc.close(fd) }
        // The umask may have narrowed 0600 but never widens it; fchmod makes it exact.
        guard fchmod(fd, 0o600) == 0 else { throw .system(operation: "fchmod", name: name, errno: errno) }
        guard ftruncate(fd, off_t(h.total_size)) == 0 else {
            throw .system(operation: "ftruncate(\(h.total_size))", name: name, errno: errno)
        }
        let size = Int(h.total_size)
        guard let raw = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), raw != MAP_FAILED else {
            throw .system(operation: "mmap(\(size))", name: name, errno: errno)
        }
        // ftruncate zero-filled the file: every counter, coach, channel and arena starts at 0.
        raw.assumingMemoryBound(to: cshm_header.self).pointee = h
        let header = raw.assumingMemoryBound(to: cshm_header.self)
        let mutex = UnsafeMutableRawPointer(header).advanced(by: MemoryLayout<cshm_header>.offset(of: \.mutex)!)
            .assumingMemoryBound(to: pthread_mutex_t.self)
        let rc = cshm_mutex_init(mutex)
        guard rc == 0 else {
            munmap(raw, size)
            throw .system(operation: "pthread_mutex_init (robust, process-shared)", name: name, errno: rc)
        }
        let slots = (raw + Int(h.off_slots)).assumingMemoryBound(to: cshm_slot.self)
        for i in 0..<Int(h.slots) {
            slots[i].coach = -1
            slots[i].channel = -1
        }
        SharedSegment._createHook?()
        publishFlag(&header.pointee.initialised)
        let linked = cshm_link(fd, directory + name)
        guard linked == 0 else {
            munmap(raw, size)
            if linked == -EEXIST { throw .alreadyExists(name: name) }
            throw .system(operation: "linkat(\(directory + name))", name: name, errno: -linked)
        }
        return SharedSegment(name: name, base: raw, size: size)
    }

    /// Opens the existing segment `name` and checks it: owner, mode, size, magic, version,
    /// layout and pid namespace. Opening does not take part in batches (a coordinator does), so
    /// a monitor may open a segment only to read ``counters`` and ``status()``.
    /// - Throws: ``SharedBatchError``: `.notFound`, `.foreignOwner`, `.insecureMode`,
    ///   `.truncated`, `.badMagic`, `.versionMismatch`, `.layoutMismatch`, `.otherPIDNamespace`,
    ///   or a failed system call.
    public static func open(name: String) throws(SharedBatchError) -> SharedSegment {
        try validate(name: name)
        let fd = cshm_open(name)
        if fd == -ENOENT { throw .notFound(name: name) }
        guard fd >= 0 else { throw .system(operation: "shm_open", name: name, errno: -fd) }
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .system(operation: "fstat", name: name, errno: errno) }
        guard st.st_uid == geteuid() else { throw .foreignOwner(name: name, owner: st.st_uid, me: geteuid()) }
        guard st.st_mode & 0o077 == 0 else { throw .insecureMode(name: name, mode: st.st_mode) }
        let size = Int(st.st_size)
        guard size >= MemoryLayout<cshm_header>.size else {
            throw .truncated(name: name, size: size, expected: MemoryLayout<cshm_header>.size)
        }
        guard let raw = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), raw != MAP_FAILED else {
            throw .system(operation: "mmap(\(size))", name: name, errno: errno)
        }
        do {
            try check(raw.assumingMemoryBound(to: cshm_header.self).pointee, size: size, name: name)
        } catch {
            munmap(raw, size)
            throw error
        }
        return SharedSegment(name: name, base: raw, size: size)
    }

    /// Never trusts a size or offset read from the segment: recomputes the layout from the
    /// stored capacities and compares every field, then the mapping's size.
    static func check(_ h: cshm_header, size: Int, name: String) throws(SharedBatchError) {
        guard h.magic == CSHM_MAGIC else { throw .badMagic(name: name) }
        guard h.version == CSHM_VERSION else {
            throw .versionMismatch(name: name, found: h.version, expected: CSHM_VERSION)
        }
        guard h.initialised == 1 else {
            throw .layoutMismatch(name: name, detail: "the initialised flag is not set")
        }
        var expect = cshm_header()
        expect.coaches = h.coaches
        expect.slots = h.slots
        expect.procs = h.procs
        expect.state_size = h.state_size
        expect.arena_capacity = h.arena_capacity
        expect.result_capacity = h.result_capacity
        guard cshm_layout(&expect) == 0 else {
            throw .layoutMismatch(
                name: name,
                detail: "capacities out of range (coaches \(h.coaches), participants \(h.slots), processes \(h.procs))")
        }
        let sizes: [(String, UInt32, UInt32)] = [
            ("header", h.size_header, expect.size_header), ("mutex", h.size_mutex, expect.size_mutex),
            ("core", h.size_core, expect.size_core), ("coach", h.size_coach, expect.size_coach),
            ("slot", h.size_slot, expect.size_slot), ("process entry", h.size_proc, expect.size_proc),
            ("result", h.size_result, expect.size_result), ("shadow", h.size_shadow, expect.size_shadow),
        ]
        for (what, found, want) in sizes where found != want {
            throw .layoutMismatch(name: name, detail: "size of \(what) is \(found), this build uses \(want)")
        }
        let offsets: [(String, UInt64, UInt64)] = [
            ("channels", h.off_channels, expect.off_channels), ("coaches", h.off_coaches, expect.off_coaches),
            ("results", h.off_results, expect.off_results), ("slots", h.off_slots, expect.off_slots),
            ("processes", h.off_procs, expect.off_procs), ("shadow", h.off_shadow, expect.off_shadow),
            ("state", h.off_state, expect.off_state), ("arena", h.off_arena, expect.off_arena),
            ("result stride", h.stride_result, expect.stride_result),
            ("state stride", h.stride_state, expect.stride_state),
            ("arena stride", h.stride_arena, expect.stride_arena),
            ("shadow stride", h.stride_shadow, expect.stride_shadow),
            ("total size", h.total_size, expect.total_size),
        ]
        for (what, found, want) in offsets where found != want {
            throw .layoutMismatch(
                name: name, detail: "\(what) is \(found), but the capacities in the header give \(want)")
        }
        guard UInt64(size) >= h.total_size else {
            throw .truncated(name: name, size: size, expected: Int(h.total_size))
        }
        guard UInt64(size) == h.total_size else {
            throw .layoutMismatch(name: name, detail: "the segment has \(size) bytes, its header says \(h.total_size)")
        }
        guard h.liveness_ns >= 1_000_000 && h.liveness_ns <= 10_000_000_000 else {
            throw .layoutMismatch(name: name, detail: "liveness period \(h.liveness_ns) ns is out of range")
        }
        let ns = cshm_pid_namespace()
        guard h.pid_namespace == ns || h.pid_namespace == 0 || ns == 0 else { throw .otherPIDNamespace(name: name) }
    }

    /// Opens `name` if it exists, creates it with `configuration` otherwise; race-free between
    /// processes that call it at once (exactly one creates, the others open what it published).
    /// - Throws: ``SharedBatchError``; `.configurationMismatch` when the existing segment has
    ///   other capacities.
    public static func openOrCreate(name: String, configuration: SharedBatchConfiguration) throws(SharedBatchError)
        -> SharedSegment
    {
        for _ in 0..<8 {
            let segment: SharedSegment
            do {
                segment = try open(name: name)
            } catch .notFound {
                do {
                    return try create(name: name, configuration: configuration)
                } catch .alreadyExists {
                    continue  // another process won the race: open what it published
                }
            }
            guard segment.configuration == configuration else {
                let c = segment.configuration
                throw .configurationMismatch(
                    name: name,
                    detail:
                        "it has coaches \(c.coaches), participants \(c.participants), processes \(c.processes), stateSize \(c.stateSize), arenaCapacity \(c.arenaCapacity), resultCapacity \(c.resultCapacity), livenessPeriod \(c.livenessPeriod)"
                )
            }
            return segment
        }
        throw .system(operation: "openOrCreate (the name kept appearing and disappearing)", name: name, errno: EAGAIN)
    }

    /// Removes the name `name`. Processes that have it open keep using it until they close it.
    /// - Throws: ``SharedBatchError/notFound(name:)``, or a failed `shm_unlink`.
    public static func unlink(name: String) throws(SharedBatchError) {
        try validate(name: name)
        let rc = cshm_unlink(name)
        if rc == -ENOENT { throw .notFound(name: name) }
        guard rc == 0 else { throw .system(operation: "shm_unlink", name: name, errno: -rc) }
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

    /// Detaches this process: its participant slots and process entry are released, and the
    /// mapping is removed. Idempotent. Call it after every coordinator over this segment is done
    /// (no worker of this process inside a batch); the segment's deinit calls it too.
    public func close() {
        let (first, proc, serial, lease) = local.withLock { state -> (Bool, Int32, UInt64, LeaseThread?) in
            if state.closed { return (false, -1, 0, nil) }
            state.closed = true
            defer {
                state.lease = nil
                state.proc = -1
            }
            return (true, state.proc, state.leaseSerial, state.lease)
        }
        guard first else { return }
        // Unregister first: a thread-exit destructor releases slots only under the registry
        // lock and only for registered segments, so it never touches the mapping after this.
        liveSegments.withLock { _ = $0.removeValue(forKey: self.serial) }
        if let lease, proc >= 0 { detach(proc: Int(proc), serial: serial, lease: lease) }
        munmap(base, size)
    }

    // MARK: - Observability

    /// The live counters, read atomically without the lock.
    public var counters: SharedBatchCounters {
        let h = header
        return SharedBatchCounters(
            batches: Int(loadRelaxedU64(&h.pointee.batches)),
            workersServed: Int(loadRelaxedU64(&h.pointee.served)),
            crashesRecovered: Int(loadRelaxedU64(&h.pointee.crashes)),
            cancels: Int(loadRelaxedU64(&h.pointee.cancels)))
    }

    /// A snapshot of the header, coaches, processes and participant slots, read without the lock
    /// (each field atomically; fields may come from slightly different moments).
    public func status() -> SharedSegmentStatus {
        let h = header.pointee
        var coaches: [SharedSegmentStatus.Coach] = []
        for c in 0..<coachCount {
            let co = coachesP + c
            coaches.append(
                .init(
                    index: c, count: Int(loadRelaxedI64(&co.pointee.count)),
                    generation: Int(loadRelaxedU64(&co.pointee.generation)),
                    triggered: loadRelaxedU32(&co.pointee.triggered) != 0,
                    ready: loadRelaxedU32(&co.pointee.ready) != 0,
                    arenaUsed: Int(loadRelaxedU64(arenaUsedP(c)))))
        }
        var participants: [SharedSegmentStatus.Participant] = []
        for s in 0..<slotCount {
            let slot = slotsP + s
            let proc = loadRelaxedU32(&slot.pointee.proc)
            if proc == 0 { continue }
            participants.append(
                .init(
                    slot: s, pid: cshm_atomic_load_i32(&slot.pointee.pid),
                    phase: SharedParticipantPhase(rawValue: loadRelaxedU32(&slot.pointee.phase)) ?? .idle,
                    coach: Int(cshm_atomic_load_i32(&slot.pointee.coach)),
                    sleepingOn: Int(cshm_atomic_load_i32(&slot.pointee.channel))))
        }
        var processes: [SharedSegmentStatus.Process] = []
        for p in 0..<procCount where loadRelaxedU32(&procsP[p].state) == 1 {
            processes.append(
                .init(
                    entry: p, pid: cshm_atomic_load_i32(&procsP[p].pid),
                    queued: Int(cshm_atomic_load_i64(&procsP[p].queued))))
        }
        return SharedSegmentStatus(
            name: name, size: size, version: Int(h.version), configuration: configuration,
            creatorPID: Int32(bitPattern: h.creator_pid), creatorUID: h.creator_uid, counters: counters,
            queueLength: processes.reduce(0) { $0 + $1.queued }, coaches: coaches,
            participants: participants, processEntries: processes)
    }

    // MARK: - Regions
    // Wrapping arithmetic: `c` is a coach index below the validated coach count, and offsets and
    // strides were validated at open against the mapping's size, so none of these can overflow.

    @inlinable func resultP(_ c: Int) -> UnsafeMutablePointer<cshm_result> {
        (base + (resultsOffset &+ c &* resultStride)).assumingMemoryBound(to: cshm_result.self)
    }
    @inlinable func resultBytes(_ c: Int) -> UnsafeMutableRawPointer {
        base + (resultsOffset &+ c &* resultStride &+ MemoryLayout<cshm_result>.size)
    }
    @inline(__always) func errorText(_ c: Int) -> UnsafeMutableRawPointer {
        resultBytes(c) + configuration.resultCapacity
    }
    @inlinable func stateP(_ c: Int) -> UnsafeMutableRawPointer { base + (stateOffset &+ c &* stateStride) }
    @inlinable func arenaUsedP(_ c: Int) -> UnsafeMutablePointer<UInt64> {
        (base + (arenaOffset &+ c &* arenaStride)).assumingMemoryBound(to: UInt64.self)
    }
    @inlinable func arenaBytes(_ c: Int) -> UnsafeMutableRawPointer { base + (arenaOffset &+ c &* arenaStride &+ 8) }

    // MARK: - Testing hooks

    /// Called right before the segment gets its name in ``create(name:configuration:)``: a test
    /// helper kills itself here to prove that a creator dying mid-initialisation blocks nobody.
    @_spi(Testing) @exclusivity(unchecked) nonisolated(unsafe) public static var _createHook:
        (@convention(c) () -> Void)?
    /// Called at every phase change of a worker of this process (queued, entered, waiting,
    /// committing — at the start of the commit function —, done, idle) with the phase's raw
    /// value: a test helper calls `kill(getpid(), SIGKILL)` here to die exactly in a phase.
    @_spi(Testing) public static var _phaseHook: (@convention(c) (UInt32) -> Void)? {
        get { cshm_get_phase_hook() }
        set { cshm_set_phase_hook(newValue) }
    }
}

/// The live counters of a segment.
public struct SharedBatchCounters: Sendable, Equatable, CustomStringConvertible {
    /// Commit functions that returned (a value or an error).
    public var batches: Int
    /// Outcomes handed to workers (one per worker per batch it committed or waited for).
    public var workersServed: Int
    /// Dead participants whose state was repaired (crash model of DESIGN.md §2).
    public var crashesRecovered: Int
    /// Batches closed without commit: `cancel`, a failing worker, or a crashed worker.
    public var cancels: Int

    public var description: String {
        "batches \(batches), workers served \(workersServed), crashes recovered \(crashesRecovered), cancels \(cancels)"
    }
}

/// What a participant is doing, as recorded in its slot.
public enum SharedParticipantPhase: UInt32, Sendable, CustomStringConvertible {
    case idle = 0
    case queued, entered, waiting, committing, done
    public var description: String {
        switch self {
        case .idle: "idle"
        case .queued: "queued"
        case .entered: "entered"
        case .waiting: "waiting"
        case .committing: "committing"
        case .done: "done"
        }
    }
}

/// A snapshot of a segment, for `stat` and tests. See ``SharedSegment/status()``.
public struct SharedSegmentStatus: Sendable {
    /// One coach.
    public struct Coach: Sendable {
        public var index: Int
        /// >= 0: filling with `count` workers inside; < 0: closed, `-count` not exited yet.
        public var count: Int
        public var generation: Int
        public var triggered: Bool
        public var ready: Bool
        /// Bytes of records appended to the coach's arena in the current batch.
        public var arenaUsed: Int
    }
    /// One claimed participant slot.
    public struct Participant: Sendable {
        public var slot: Int
        public var pid: Int32
        public var phase: SharedParticipantPhase
        /// The coach of phases entered...done, -1 otherwise.
        public var coach: Int
        /// 1 while its phase is `queued`, else 0. (Announcements are counted per process: see
        /// ``SharedSegmentStatus/processEntries``.)
        public var queued: Int { phase == .queued ? 1 : 0 }
        /// The wait channel it sleeps on (0: enter, 1 + c: commit on coach c), -1 when awake.
        public var sleepingOn: Int
    }
    /// One attached process.
    public struct Process: Sendable {
        /// Its entry in the process table.
        public var entry: Int
        public var pid: Int32
        /// Announcements of its workers not entered yet.
        public var queued: Int
    }
    public var name: String
    public var size: Int
    public var version: Int
    public var configuration: SharedBatchConfiguration
    public var creatorPID: Int32
    public var creatorUID: UInt32
    public var counters: SharedBatchCounters
    /// Workers announced and not entered, over all participants.
    public var queueLength: Int
    public var coaches: [Coach]
    public var participants: [Participant]
    /// Pids of the attached processes.
    public var processes: [Int32] { processEntries.map(\.pid) }
    /// The attached processes, with their entry and queue count.
    public var processEntries: [Process]
}

/// Process-unique mapping numbers; never reused, so a stale per-thread cache entry cannot match.
let segmentSerials = Atomic<UInt64>(0)

/// An unretained reference: no weak reference, so that retains of a segment stay on the fast
/// path (a weakly referenced object's refcounts live in a side table).
struct RegisteredSegment: @unchecked Sendable {
    let segment: Unmanaged<SharedSegment>
}
/// Open mappings of this process by serial: lets a thread's exit release its slots. A segment
/// unregisters itself first thing in deinit.
let liveSegments = ProcessLock<[UInt64: RegisteredSegment]>([:])

@inline(__always) func loadRelaxedU64(_ p: UnsafePointer<UInt64>) -> UInt64 {
    cshm_atomic_load_u64(p)
}
@inline(__always) func loadRelaxedI64(_ p: UnsafePointer<Int64>) -> Int64 {
    cshm_atomic_load_i64(p)
}
@inline(__always) func loadRelaxedU32(_ p: UnsafePointer<UInt32>) -> UInt32 {
    cshm_atomic_load_u32(p)
}
@inline(__always) func publishFlag(_ p: UnsafeMutablePointer<UInt32>) {
    cshm_atomic_store_u32_release(p, 1)
}

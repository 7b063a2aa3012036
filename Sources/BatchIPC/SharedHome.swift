import Batch
import CBatchCore
import CShmSync
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Not API: the shared-memory home of the batching algorithm, for blocking workers. Its `core`
/// and `coaches` point into the segment; `lock` is the segment's robust mutex (with crash
/// repair), `wait` the futex condition, and `note` records each worker's phase in its
/// participant slot. The critical section is the segment's mutex itself until async workers
/// take part. Its failure is the segment's: found corrupt or closed, or (entering) no
/// participant slot for the thread.
public final class _SharedHome<Result: BitwiseCopyable & Sendable>: _FutexHome, @unchecked Sendable {
    // @unchecked Sendable: every field is immutable; what they point to is guarded by the
    // segment's mutex or accessed atomically, as cshm_layout.h says field by field.
    public typealias Outcome = _SharedOutcome
    public typealias Failure = SharedBatchError

    public let core: UnsafeMutablePointer<cbatch_core>
    public let coaches: UnsafeMutablePointer<cbatch_coach>
    public let coachCount: Int
    public let policyState: UnsafeMutablePointer<cbatch_policy>
    public let futex: _FutexChannels
    /// The segment; kept alive by the home.
    @usableFromInline let segment: SharedSegment
    /// The user's commit function.
    @usableFromInline let commitFunction: @Sendable (borrowing SharedBatchContents) throws -> Result

    /// A home over `segment`: attaches this process (until `segment.close()`).
    init(
        segment: SharedSegment, commit: @escaping @Sendable (borrowing SharedBatchContents) throws -> Result
    ) throws(SharedBatchError) {
        try segment.attach()
        self.segment = segment
        self.core = segment.coreP
        self.coaches = segment.coachesP
        self.coachCount = segment.coachCount
        self.policyState = segment.policyP
        self.futex = segment.futex
        self.commitFunction = commit
    }

    // The hot path is inlinable, so that it is specialised and inlined into the caller like the
    // in-process home (a shared-memory op costs less than 2× an in-process op).
    @inlinable @inline(__always) public func threadToken() -> UInt64 { segment.myToken() }
    @inlinable @inline(__always) public func workerToken() throws(SharedBatchError) -> UInt64 {
        try segment.workerToken()
    }
    @inlinable @inline(__always) public func lock() throws(SharedBatchError) { try segment.lock() }
    @inlinable @inline(__always) public func unlock() { segment.unlock() }
    @inlinable public func wake(_ channel: Int, all: Bool) { segment.wake(channel, all: all) }
    /// The section is the segment's mutex until an async worker takes part in the segment.
    @inlinable public var sectionIsTheLock: Bool { !segment.hasAsyncWorkers }
    /// This process's yield budget (``SharedSegment/yieldBudget``).
    @inlinable public var yieldCapNanos: Int64 { segment.yieldBudgetNS.load(ordering: .relaxed) }
    /// The liveness period: a sleeper looks for dead participants at least this often.
    @inlinable public var sleepLimitNanos: Int64 { segment.livenessNS }
    /// Records the channel in the worker's slot (crash repair recomputes sleeper counts from it).
    public func willWait(on channel: Int) { segment.slotsP[segment.mySlot()].channel = Int32(channel) }
    /// Clears the recorded channel and looks for dead participants — and, after a whole liveness
    /// period without a wake, checks the tables (a state nobody can leave looks like that). Stops
    /// once the segment is found corrupt or this process detached.
    public func didWait(on channel: Int, sleptWholeLimit: Bool) throws(SharedBatchError) {
        try segment.afterWait(slot: segment.mySlot(), check: sleptWholeLimit)
    }

    @inlinable @inline(__always) public func queueIn() -> Int { segment.queueIn() }
    @inlinable public func queueOut() -> Int { segment.queueOut() }
    @inlinable @inline(__always) public var queueLength: Int { segment.queueLength }
    @inlinable @inline(__always) public func leaveQueue(needLength: Bool) -> Int {
        segment.leaveQueue(threadCounts: true, needLength: needLength)
    }
    @inlinable @inline(__always) public func note(_ phase: WorkerPhase, coach: Int) {
        let slot = segment.mySlot()
        if slot >= 0 { segment.note(phase, coach: coach, slot: slot) }  // -1: no slot, it will not enter
    }
    /// The token names the slot (`serial << 16 | slot + 1`, see `reserveSlot`): no lookup.
    @inlinable @inline(__always) public func note(_ phase: WorkerPhase, coach: Int, token: UInt64) {
        segment.note(phase, coach: coach, slot: SharedSegment.slotIndex(ofToken: token))
    }
    /// A worker that keeps the lock until its next phase change: see
    /// ``SharedSegment/noteKeepingLock(_:coach:slot:beginsBatch:)``.
    @inlinable @inline(__always)
    public func noteKeepingLock(_ phase: WorkerPhase, coach: Int, token: UInt64, beginsBatch: Bool) {
        segment.noteKeepingLock(
            phase, coach: coach, slot: SharedSegment.slotIndex(ofToken: token), beginsBatch: beginsBatch)
    }
    /// The state changed without a phase change: a new crash snapshot — with the holder's phase
    /// if it has not recorded it yet.
    @inlinable public func stateChanged() { segment.stateChanged(slot: segment.mySlot()) }
    public func ownRecord(of me: UInt64) -> _OwnRecord? { segment.ownRecord(token: me) }
    @inlinable public func ownKeepsLock(of me: UInt64) -> Bool? { segment.ownKeepsLock(token: me) }
    public func holderFieldsFalse(field: String, detail: String) -> SharedBatchError {
        segment.holderFieldsFalse(field: field, detail: detail)
    }
    public var failure: SharedBatchError? { segment.failure }
    /// The first worker of a batch entered: the previous batch's records are gone.
    @inlinable public func beginBatch(coach: Int) { cbatch_atomic_store_u64(segment.arenaUsedP(coach), 0) }

    @inlinable @inline(__always) public func runCommit(coach: Int) -> Outcome {
        if let hook = cshm_get_phase_hook() { hook(WorkerPhase.committing.rawValue) }
        let contents = SharedBatchContents(segment: segment, coach: coach)
        do {
            let value = try commitFunction(contents)
            segment.writeValue(value, coach: coach)
            return .value
        } catch {
            return .thrown(error)
        }
    }
    @inlinable public func publish(_ outcome: consuming Outcome, coach: Int) {
        segment.publish(outcome, coach: coach)
    }
    public func publishClosing(_ closing: _Closing, coach: Int) { segment.publishClosing(closing, coach: coach) }
    @inlinable public func result(coach: Int) throws -> Result { try segment.load(coach: coach) }
    public func resetOutcome(coach: Int) {}
}

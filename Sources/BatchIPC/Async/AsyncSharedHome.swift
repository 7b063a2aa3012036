import Batch
import CBatchCore
import CShmSync

/// Not API: the shared-memory home of the batching algorithm for async workers (tasks). The
/// state is the segment's, as for the blocking home (`_SharedHome`); what differs is how a
/// worker waits and who it is:
///
/// - The critical section is the engine's holder field in the segment (a task may `await`
///   inside it and resume on another thread). The segment's mutex is held for one step at a
///   time, never across an `await` — by every worker, blocking ones included, once an async
///   coordinator was made over the segment (`SharedSegment.tasks()`).
/// - A task that must wait records the wait under the mutex (the channel's sleeper count and
///   its slot's `channel`, as a sleeping thread does, so that crash repair counts it) and is
///   suspended; this process's parking thread (``TaskParking``) resumes it when the channel is
///   woken, its deadline passes, or after a liveness check. The step runs again.
/// - A worker is a task with a participant seat (``TaskSeats``) from `enter` to `exit`; the
///   seat's token names it as the section's holder and in the crash table.
public final class _AsyncSharedHome<Result: BitwiseCopyable & Sendable>: _AsyncBatchHome, @unchecked Sendable {
    // @unchecked Sendable: every field is immutable; the segment's memory is guarded by its
    // mutex or atomic (cshm_layout.h), `released` by the segment's mutex, the seats and the
    // parked tasks by their own locks.
    public typealias Outcome = _SharedOutcome
    public typealias Failure = SharedBatchError

    public let core: UnsafeMutablePointer<cbatch_core>
    public let coaches: UnsafeMutablePointer<cbatch_coach>
    public let coachCount: Int
    public let policyState: UnsafeMutablePointer<cbatch_policy>
    /// The segment; kept alive by the home.
    let segment: SharedSegment
    let tasks: SegmentTasks
    /// The user's commit function.
    let commitFunction: @Sendable (borrowing SharedBatchContents) async throws -> Result
    /// Per coach, tasks of this process that took their outcome without the section and have
    /// not exited yet. Under the segment's mutex.
    let released: UnsafeMutablePointer<Int>

    init(segment: SharedSegment, commit: @escaping @Sendable (borrowing SharedBatchContents) async throws -> Result)
        throws(SharedBatchError)
    {
        self.tasks = try segment.tasks()
        self.segment = segment
        self.core = segment.coreP
        self.coaches = segment.coachesP
        self.coachCount = segment.coachCount
        self.policyState = segment.policyP
        self.commitFunction = commit
        released = .allocate(capacity: segment.coachCount)
        released.initialize(repeating: 0, count: segment.coachCount)
    }

    deinit { released.deallocate() }

    /// The calling task's seat, 0 when it has none (it has not entered: never a holder).
    public func threadToken() -> UInt64 { tasks.seats.token(ofTask: _currentTask()) ?? 0 }

    /// Nothing new starts on a segment this process closed or found corrupt (``SharedSegment/failure``).
    public func takeSeat(task: UInt64) throws(SharedBatchError) -> UInt64? {
        if let failure = segment.failure { throw failure }
        return try tasks.seats.take(task: task)
    }
    nonisolated(nonsending) public func waitForSeat(task: UInt64) async throws -> UInt64 {
        try await tasks.seats.wait(task: task)
    }
    public func returnSeat(_ token: UInt64) { tasks.seats.give(back: token) }

    public func lock() throws(SharedBatchError) { try segment.lock() }
    public func unlock() { segment.unlock() }
    public func wake(_ channel: Int, all: Bool) { segment.wake(channel, all: all) }

    public func queueIn() -> Int { segment.queueInForTask() }
    public func queueOut() -> Int { segment.queueOutForTask() }
    public var queueLength: Int { segment.queueLength }
    public func leaveQueue(needLength: Bool) -> Int {
        segment.leaveQueue(threadCounts: false, needLength: needLength)
    }

    /// A task's phase lives in its seat: before it has one (queued, or idle after leaving the
    /// queue) there is nothing to record — the process's queue counter is what crash repair
    /// discounts. The phase hook (``SharedSegment/phaseHook``) sees it all the same.
    public func note(_ phase: WorkerPhase, coach: Int) {
        if let hook = cshm_get_phase_hook() { hook(phase.rawValue) }
    }
    public func note(_ phase: WorkerPhase, coach: Int, token: UInt64) {
        guard let slot = Self.slot(of: token) else { return }
        segment.note(phase, coach: coach, slot: slot)
    }
    /// The state changed without a phase change: a new crash snapshot (no slot's phase in it).
    public func stateChanged() { segment.saveSnapshot() }
    public func ownRecord(of me: UInt64) -> _OwnRecord? { segment.ownRecord(token: me) }
    public func ownKeepsLock(of me: UInt64) -> Bool? { segment.ownKeepsLock(token: me) }
    public func holderFieldsFalse(field: String, detail: String) -> SharedBatchError {
        segment.holderFieldsFalse(field: field, detail: detail)
    }
    public var failure: SharedBatchError? { segment.failure }
    static func slot(of token: UInt64) -> Int? { token == 0 ? nil : SharedSegment.slotIndex(ofToken: token) }

    public func beginBatch(coach: Int) { cbatch_atomic_store_u64(segment.arenaUsedP(coach), 0) }
    public func result(coach: Int) throws -> Result { try segment.load(coach: coach) }
    public func publish(_ outcome: consuming Outcome, coach: Int) { segment.publish(outcome, coach: coach) }
    public func publishClosing(_ closing: _Closing, coach: Int) { segment.publishClosing(closing, coach: coach) }
    public func resetOutcome(coach: Int) {}

    /// The section is the engine's holder field: the steps took and released it.
    public func giveUpSection() {}

    nonisolated(nonsending) public func drive<T>(
        owned: Bool, cancellable: Bool, me: UInt64, _ step: () -> _SectionStep<T>
    ) async -> _Driven<T, Result> {
        let slot = Self.slot(of: me)
        var parkedOn = -1
        var parkedBeforeEntering = false
        while true {
            do {
                try lock()
            } catch {
                return .failed(error)
            }
            if parkedOn >= 0 {
                // Another process found the segment corrupt and stopped
                // (``SharedSegment/tellOthersFoundCorrupt()``): so does this one.
                _ = segment.stopIfFoundCorrupt()
                // Found corrupt, or this process detached (the seat may be another's now); or
                // closing, and this worker is not in a batch yet (a cancellable wait): nothing
                // new starts.
                if let failure = parkedBeforeEntering ? segment.failure : segment.waitingStopped {
                    if segment.waitingStopped == nil {
                        endPark(parkedOn, slot: slot)
                    } else {
                        segment.givesUp(failure)  // stays counted where it waited
                    }
                    unlock()
                    return .failed(failure)
                }
                endPark(parkedOn, slot: slot)
                parkedOn = -1
            }
            switch step() {
            case .keep(let value), .release(let value):
                unlock()
                return .done(value)
            case .wait(let channel, let deadline, let waitIsCancellable, _):
                if waitIsCancellable && Task.isCancelled {
                    unlock()
                    return .cancelled
                }
                // Counted as a sleeper of the channel, with the word's value now: a wake from
                // here on changes the word, and the parking thread resumes this task.
                let seq = segment.futex.prepareWait(channel)
                if let slot { segment.slotsP[slot].channel = Int32(channel) }
                parkedOn = channel
                parkedBeforeEntering = waitIsCancellable
                unlock()
                let woken = await tasks.parking.park(
                    channel: channel, seq: seq, deadline: deadline, cancellable: waitIsCancellable)
                if !woken {
                    if (try? lock()) != nil {
                        if segment.waitingStopped == nil { endPark(parkedOn, slot: slot) }
                        unlock()
                    }
                    return .cancelled
                }
            }
        }
    }

    /// Under the mutex: the task parked on `channel` is no longer a sleeper there.
    func endPark(_ channel: Int, slot: Int?) {
        segment.futex.endWait(channel)
        if let slot { segment.slotsP[slot].channel = -1 }
    }

    nonisolated(nonsending) public func runCommit(coach: Int) async -> Outcome {
        if let hook = cshm_get_phase_hook() { hook(WorkerPhase.committing.rawValue) }
        let contents = SharedBatchContents(segment: segment, coach: coach)
        do {
            let value = try await commitFunction(contents)
            segment.writeValue(value, coach: coach)
            return .value
        } catch {
            return .thrown(error)
        }
    }

    /// The section's waiters are parked on the section channel.
    public func parkedCount(channel: Int?) -> Int {
        let channel = channel ?? coachCount + 1
        return tasks.parking.state.withLock { s in s.parked.count { $0.channel == channel } }
    }

    public func releasedResult(coach: Int) throws -> Result {
        try lock()
        defer { unlock() }
        return try result(coach: coach)
    }

    public func markReleased(coach: Int) { released[coach] += 1 }

    public func takeReleasedExit(coach: Int) -> Bool {
        guard released[coach] > 0 else { return false }
        released[coach] -= 1
        return true
    }
}

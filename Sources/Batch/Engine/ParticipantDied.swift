import CBatchCore

/// Not API: a home whose participants can die (a process killed while it takes part): the
/// shared-memory home's crash repair. The engine's ``_BatchEngine/participantDied(in:coach:pid:)``
/// applies the crash table through it.
public protocol _MortalState: _BatchState {
    /// The outcome of a batch whose committer (process `pid`) died while running the commit
    /// function: every survivor gets ``BatchError/outcomeUnknown(committerPID:)``.
    func committerDied(pid: Int32) -> Outcome
}

extension _BatchEngine where Home: _MortalState {
    /// Under the lock: a participant that had recorded `phase` on `coach` is dead (its process is
    /// gone). Applies its row of the crash table (docs/DESIGN.md, "Crash model"), idempotently
    /// per participant, and returns whether it left anything to repair.
    ///
    /// | phase | the survivors get | the coach |
    /// |---|---|---|
    /// | queued | nothing (the home discounts its announcement) | unchanged |
    /// | entered | the batch is poisoned: ``BatchError/workerCrashed(pid:)`` | its exit is counted |
    /// | waiting | the batch goes on with its data | its exit is counted |
    /// | committing | ``BatchError/outcomeUnknown(committerPID:)`` | its exit is counted |
    /// | done | nothing | its exit is counted |
    ///
    /// A dead waiter that was the last worker of a filling batch leaves it empty: the coach
    /// starts afresh and its data is not committed — nobody was told it was.
    ///
    /// A dead participant that held the critical section (its `token` is the holder's) leaves
    /// it: nobody holds it any more.
    @inlinable
    public func participantDied(in phase: WorkerPhase, coach c: Int, pid: Int32, token: UInt64) -> Bool {
        if token != 0 && holder == token {
            defer { sectionHolderGone() }
            return diedInBatch(phase, coach: c, pid: pid)
        }
        return diedInBatch(phase, coach: c, pid: pid)
    }

    @inlinable
    func diedInBatch(_ phase: WorkerPhase, coach c: Int, pid: Int32) -> Bool {
        switch phase {
        case .idle: return false
        case .queued: return true
        case .entered, .waiting, .committing, .done: break
        }
        guard c >= 0 && c < coachCount else { return false }
        switch phase {
        case .entered:
            // Its change to the state may be half done: poison the batch if it still fills.
            if workersInside(c) > 0 && isFilling(c) { close(coach: c, .workerCrashed(pid: pid)) }
        case .committing:
            // It died between the start of the commit function and publishing.
            if isCommitting(c) { publish(home.committerDied(pid: pid), coach: c) }
        default:
            break  // waiting (its data is in the batch) or done (it has its outcome)
        }
        if workersInside(c) > 0 { _ = exitStep(coach: c) }
        return true
    }
}

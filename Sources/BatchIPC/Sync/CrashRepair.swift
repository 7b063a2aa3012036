import Batch
import CBatchCore
import CShmSync

#if canImport(Glibc)
    import Glibc
#endif

// Crash repair: whoever takes the segment mutex and finds a dead participant repairs what it left,
// under the mutex, idempotently. The rows of the crash table are the engine's
// (`_BatchEngine.participantDied(in:coach:pid:)`); this file finds the dead, restores the last
// consistent snapshot when the mutex's holder died mid-step, and hands each dead participant's
// recorded phase to the engine.

extension SharedSegment {
    /// Under the lock: finds dead processes and repairs what their workers left, row by row of
    /// the crash table. Idempotent; does nothing (but a scan of the process table) when everyone
    /// is alive.
    ///
    /// - Parameters:
    ///   - ownerDied: the lock came back `EOWNERDEAD`: its holder died, possibly in the middle of
    ///     a step. The coaches are first restored from the last snapshot (saved at each phase
    ///     change under the lock, see cshm_shadow.h), so that they match every participant's
    ///     recorded phase again.
    ///   - check: validate the tables first (``checkState()``): after a restore, and whenever a
    ///     waiter slept a whole liveness period (a state nobody can ever leave looks like that).
    /// - Throws: ``SharedBatchError/corruptSegment(name:field:detail:)``; the caller still holds
    ///   the lock.
    func repair(ownerDied: Bool, check: Bool = false) throws(SharedBatchError) {
        let me = Int(myProc.load(ordering: .relaxed))
        var dead: [Int] = []
        var died: [Int] = []  // of `dead`, those that died (the others are detaching)
        for p in 0..<procCount where p != me && procsP[p].state == 1 {
            switch lease(of: p) {
            case .held: break
            case .died:
                dead.append(p)
                died.append(p)
            case .released: dead.append(p)
            }
        }
        let high = slotHigh
        let engine = _BatchEngine(home: state, waiting: _WaitPolicy(.adaptive))
        if ownerDied {
            // EOWNERDEAD proves that the thread holding the lock died, hence its process: its
            // lease may not be marked yet (the threads of a killed process exit one by one). The
            // section's holder is that thread only when it keeps the lock for its section; with
            // async workers taking part the section is held between steps, the mutex free, and
            // its holder may be anyone, alive (taking it for dead reclaimed a live process).
            // Asked twice: of the state the dead thread left, and of the snapshot restored below
            // — a step between the two may have taken the section or given it up, and a holder
            // that keeps the lock in either is the lock's holder (whenever the lock is free, the
            // snapshot is the state).
            func lockHolderDied() {
                if engine.holderKeepsLock, let s = slot(ofToken: engine.holder, below: high),
                    let p = procIndex(of: s), p != me, !dead.contains(p)
                {
                    dead.append(p)
                    died.append(p)
                }
            }
            lockHolderDied()
            // The coaches and the holder fields as they were at the last phase change, and the
            // phase that change recorded for its slot: the dead thread may have died after the
            // snapshot and before its slot's store — whether or not its lease is marked yet (a
            // check for a dead owner here missed a thread that died first, and the slot kept its
            // previous phase: a row applied later counted an exit twice). The slot's phase can
            // have changed since without a snapshot only between idle and queued, which the
            // crash table treats alike; a slot freed since is left alone. A holder of the section
            // that is dead leaves it below, with the rest of its row.
            let saved = Int(cshm_shadow_slot(shadowRef))
            let slotToo = saved != 0 && slotsP[saved - 1].proc != 0
            cshm_restore(shadowRef, slotToo ? 1 : 0)
            lockHolderDied()
            if engine.holder != 0 && slot(ofToken: engine.holder, below: high) == nil { engine.sectionHolderGone() }
            Self._repairHook?(_RepairPoint.restored.rawValue)
        }
        // After every wait: another process stopped, its workers with it. After the restore, so
        // that a lock released on this error holds a state that matches its snapshot.
        try throwIfFoundCorrupt()
        if ownerDied || check { try checkState(dead: dead) }
        // Everyone alive and the lock's holder not dead: nothing changed.
        guard ownerDied || !dead.isEmpty else { return }
        for p in dead { reclaim(process: p, engine: engine, died: died.contains(p)) }
        settleAfterRepair()
    }

    /// Under the lock, after a repair changed the state (a restore, reclaimed processes): the
    /// sleepers are counted again, every waiter re-checks — a dead holder's owed wakes (issued
    /// after unlock) died with it, and the repaired state may be what its sleepers wait for —
    /// and the snapshot is saved.
    func settleAfterRepair() {
        recomputeSleepers()
        wakeEveryone()
        saveSnapshot()
    }

    /// Under the lock: gives up process entry `p` — its owner died, or (`died == false`) it is
    /// detaching — with its announcements and participant slots, each slot handed to the crash
    /// table with the phase it recorded. Every death is counted, an idle one too (a detaching
    /// process is none).
    ///
    /// Each slot is first recorded idle together with a snapshot of the coaches just repaired,
    /// then freed: a repairer that dies half-way leaves a snapshot that matches the slots, and
    /// the next one neither repeats nor loses the row.
    func reclaim(process p: Int, engine: _BatchEngine<_SegmentState>, died: Bool) {
        // Queued, or waiting to enter: its announcements stop counting.
        cbatch_atomic_store_i64(cshm_proc_queued(procsP + p), 0)
        cbatch_atomic_store_i64(cshm_proc_departed(procsP + p), 0)
        var repaired = 0
        for s in 0..<slotHigh where slotsP[s].proc == UInt32(p + 1) {
            let slot = slotsP + s
            let phase = WorkerPhase(rawValue: slot.pointee.phase) ?? .idle
            let counts = engine.participantDied(
                in: phase, coach: Int(slot.pointee.coach), pid: slot.pointee.pid, token: slot.pointee.token)
            Self._repairHook?(_RepairPoint.rowApplied.rawValue)
            cshm_note_locked(shadowRef, UInt32(s), WorkerPhase.idle.rawValue, -1)
            // Counted once the row is recorded: a repairer that dies before that leaves the row
            // (and its count) to the next one.
            if counts {
                if died { cshm_counter_bump(&header.pointee.crashes) }
                repaired += 1
            }
            freeSlot(s)
            Self._repairHook?(_RepairPoint.slotFreed.rawValue)
        }
        if died && repaired == 0 { cshm_counter_bump(&header.pointee.crashes) }
        cshm_atomic_store_u32(&procsP[p].state, 0)  // atomic: queueLength reads it without the lock
    }

    /// The process entry slot `s` names, if it names one (`proc` is 1 + an entry index).
    func procIndex(of s: Int) -> Int? {
        let p = Int(slotsP[s].proc) - 1
        return p >= 0 && p < procCount ? p : nil
    }

    /// The slot a token names (`serial << 16 | slot + 1`, see `reserveSlot`), if it is below
    /// `high` and still holds that token.
    func slot(ofToken token: UInt64, below high: Int) -> Int? {
        let s = Self.slotIndex(ofToken: token)
        guard token != 0 && s >= 0 && s < high && slotsP[s].token == token else { return nil }
        return s
    }
}

/// Not API: the segment's state as the engine's steps see it, for crash repair and the waiting
/// policy. Made once per mapping; it refers back to its segment without retaining it (the
/// segment owns it).
public final class _SegmentState: _MortalState, @unchecked Sendable {
    // @unchecked Sendable: immutable; what it points to is guarded by the segment's mutex.
    public typealias Outcome = _SharedOutcome
    unowned(unsafe) let segment: SharedSegment
    public let core: UnsafeMutablePointer<cbatch_core>
    public let coaches: UnsafeMutablePointer<cbatch_coach>
    public let coachCount: Int
    public let policyState: UnsafeMutablePointer<cbatch_policy>

    init(segment: SharedSegment) {
        self.segment = segment
        self.core = segment.coreP
        self.coaches = segment.coachesP
        self.coachCount = segment.coachCount
        self.policyState = segment.policyP
    }

    public func wake(_ channel: Int, all: Bool) { segment.wake(channel, all: all) }
    public func publish(_ outcome: consuming _SharedOutcome, coach: Int) { segment.publish(outcome, coach: coach) }
    public func publishClosing(_ closing: _Closing, coach: Int) { segment.publishClosing(closing, coach: coach) }
    public func resetOutcome(coach: Int) {}
    public func committerDied(pid: Int32) -> _SharedOutcome { .committerDied(pid: pid) }
}

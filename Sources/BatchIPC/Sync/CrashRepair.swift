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
    /// - Parameter ownerDied: the lock came back `EOWNERDEAD`: its holder died, possibly in the
    ///   middle of a step. The coaches are first restored from the last snapshot (saved at each
    ///   phase change under the lock, see cshm_shadow.h), so that they match every participant's
    ///   recorded phase again.
    func repair(ownerDied: Bool) {
        let me = myProc.load(ordering: .relaxed)
        var dead: [Int] = []
        for p in 0..<procCount where Int32(p) != me && procsP[p].state == 1 {
            if procIsDead(p) { dead.append(p) }
        }
        let high = slotHigh
        let engine = _BatchEngine(home: state, waiting: _WaitPolicy(.adaptive))
        if ownerDied {
            // EOWNERDEAD proves that the thread holding the lock died, hence its process: its
            // lease may not be marked yet (the threads of a killed process exit one by one).
            if let s = slot(ofToken: engine.holder, below: high), slotsP[s].proc != 0 {
                let p = Int(slotsP[s].proc) - 1
                if Int32(p) != me && !dead.contains(p) { dead.append(p) }
            }
            let saved = Int(cshm_shadow_slot(shadowRef))
            let slotToo = saved != 0 && dead.contains(Int(slotsP[saved - 1].proc) - 1)
            // The coaches and the holder fields as they were at the last phase change: a holder
            // of the section that is dead leaves it below, with the rest of its row.
            cshm_restore(shadowRef, slotToo ? 1 : 0)
            if engine.holder != 0 && slot(ofToken: engine.holder, below: high) == nil { engine.sectionHolderGone() }
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
        for p in dead {
            // Queued, or waiting to enter: its announcements stop counting.
            let queued = cbatch_atomic_load_i64(cshm_proc_queued(procsP + p))
            cbatch_atomic_store_i64(cshm_proc_queued(procsP + p), 0)
            var repaired = 0
            for s in 0..<high where slotsP[s].proc == UInt32(p + 1) {
                let slot = slotsP + s
                let phase = WorkerPhase(rawValue: slot.pointee.phase) ?? .idle
                if engine.participantDied(
                    in: phase, coach: Int(slot.pointee.coach), pid: slot.pointee.pid, token: slot.pointee.token)
                {
                    cshm_counter_bump(&header.pointee.crashes)
                    repaired += 1
                }
                freeSlot(s)
                cshm_checkpoint(shadowRef, UInt32.max, 0, -1)
            }
            if repaired == 0 && queued != 0 { cshm_counter_bump(&header.pointee.crashes) }
            procsP[p].state = 0
        }
        recomputeSleepers()
        wakeEveryone()
        cshm_checkpoint(shadowRef, UInt32.max, 0, -1)
    }

    /// The slot a token names (`serial << 16 | slot + 1`, see `reserveSlot`), if it is below
    /// `high` and still holds that token.
    func slot(ofToken token: UInt64, below high: Int) -> Int? {
        let s = Int(token & 0xffff) - 1
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

import Batch
import CBatchCore
import CShmSync

#if canImport(Glibc)
    import Glibc
#endif

// The invariants of a segment's tables, checked where a corrupt value would otherwise make
// workers wait for ever: when a process attaches, after a holder died mid-step, and whenever a
// waiter slept a whole liveness period. A state that breaks one is not a state this library can
// be in (whatever crashed and whenever): the segment is corrupt. Never on the hot path.
//
// Keep this in step with the engine: every rule below is one of docs/DESIGN.md §1 and §4, and a
// change of the engine that makes one of them false must change it here.

extension SharedSegment {
    /// Whether a worker of this process is announced or inside a batch: as its workers recorded
    /// their phases (``localPhases``, process memory), or as its announcement counter says.
    var hasWorkersOthersMayWaitFor: Bool {
        if (0..<slotCount).contains(where: { cshm_atomic_load_u32(localPhases + $0) != WorkerPhase.idle.rawValue }) {
            return true
        }
        let p = Int(myProc.load(ordering: .relaxed))
        return p >= 0 && p < procCount && processQueue(p) > 0
    }

    /// This process found the segment corrupt just now — a check, the lock —: records it
    /// (``broken(_:)``, it stops using the segment) and, when workers of it are announced or
    /// inside a batch (the finder among them, when it found it in a wait), tells the others.
    @discardableResult
    func foundCorrupt(_ error: SharedBatchError) -> SharedBatchError {
        broken(error)
        if hasWorkersOthersMayWaitFor { givesUp(error) }
        return error
    }

    /// This process stopped using the segment (it found it corrupt), and workers of it stay
    /// where others may wait for them: one gives up a wait (``afterWait``, a parked task) or the
    /// lock, or the finding itself came with workers announced or inside a batch
    /// (``foundCorrupt(_:)``). Those workers stay counted there, and a live process is never
    /// repaired, so the others would wait for them for ever. (A worker that finds false holder
    /// fields leaves its batch first: then nobody waits for this process, and the others go
    /// on.) Says so in the header (the first finder's pid) and wakes every sleeper of every channel;
    /// each process that reads it stops too (``throwIfFoundCorrupt()``: after every wait, at
    /// attach, and on a lock it waited a liveness period for). Without the lock: the lock may be
    /// what is broken. The waiters' words are bumped before the wake, so that none goes back to
    /// sleep (a spurious change only makes a waiter look again).
    func tellOthersFoundCorrupt() {
        // Once: whoever set it woke everyone, and a sleeper that missed it reads it at the end
        // of its liveness period.
        guard cshm_atomic_set_if_zero_u32(&header.pointee.found_corrupt, UInt32(bitPattern: getpid())) == 0 else {
            return
        }
        for ch in 0...coachCount + 1 {
            let word = cbatch_channel_seq(futex.channels + ch)
            _ = cbatch_atomic_increment_u32(word)
            cshm_futex_wake(word, 1)
        }
    }

    /// A worker of this process gives up with `failure` where others may wait for it: when this
    /// process found the segment corrupt, the others are told (``tellOthersFoundCorrupt()``).
    /// Not after ``close()``: a closing process leaves the segment by its own rules.
    func givesUp(_ failure: SharedBatchError) {
        if case .corruptSegment = failure { tellOthersFoundCorrupt() }
    }

    /// Another process found the segment corrupt (``tellOthersFoundCorrupt()``): this one stops
    /// too (``broken(_:)``), and the error is returned; `nil` while the field is 0.
    func stopIfFoundCorrupt() -> SharedBatchError? {
        do throws(SharedBatchError) {
            try throwIfFoundCorrupt()
            return nil
        } catch {
            return broken(error)
        }
    }

    /// Throws when a process found the segment corrupt (``tellOthersFoundCorrupt()``), or when
    /// the header's field holds anything but 0: nobody may wait for that process's workers.
    func throwIfFoundCorrupt() throws(SharedBatchError) {
        let finder = cshm_atomic_load_u32(&header.pointee.found_corrupt)
        guard finder != 0 else { return }
        throw .corruptSegment(
            name: name, field: "found_corrupt",
            detail: "process \(Int32(bitPattern: finder)) found it corrupt and stopped using it, its workers inside")
    }

    /// Under the lock, just taken (so nobody holds the critical section): checks the coaches, the
    /// participant slots and the process entries against each other.
    ///
    /// - every claimed slot belongs to an attached process entry, below `slot_high`, with a phase
    ///   of ``WorkerPhase``, a coach in range while in a batch, a channel in range or -1;
    /// - every attached entry is below `proc_high` (a free entry's announcements count for nobody);
    /// - per coach: `triggered` and `ready` are 0 or 1; a published outcome belongs to a closed
    ///   batch; the number of workers inside (`|count|`) is the number of slots in a batch phase
    ///   on that coach; a closed batch without an outcome has exactly one committer;
    /// - nobody holds the critical section — or its holder is a worker of a process in `dead`
    ///   (crash repair is about to reclaim it, and the section with it), or, where async workers
    ///   take part (the section is then held without the lock), a worker inside a batch.
    /// - Throws: ``SharedBatchError/corruptSegment(name:field:detail:)`` naming the first field
    ///   found wrong.
    func checkState(dead: [Int] = []) throws(SharedBatchError) {
        func corrupt(_ field: String, _ detail: String) -> SharedBatchError {
            .corruptSegment(name: name, field: field, detail: detail)
        }
        try throwIfFoundCorrupt()
        let rawSlotHigh = Int(header.pointee.slot_high)
        let rawProcHigh = Int(header.pointee.proc_high)
        for p in 0..<procCount {
            // Field by field (the entry holds a lease mutex other threads lock); `queued` atomically.
            let state = procsP[p].state
            guard state <= 1 else { throw corrupt("process entry \(p) state", "\(state)") }
            if state == 1 && p >= rawProcHigh {
                throw corrupt("process entry \(p)", "attached, above the highest entry ever claimed (\(rawProcHigh))")
            }
            // A free entry's `queued` may hold a stray count: a thread of a process closing the
            // segment can take back its announcement after close() gave the entry up. Nobody
            // counts it (``queueLength`` sums attached entries) and the next owner resets it.
        }
        var inside = [Int](repeating: 0, count: coachCount)
        var committers = [Int](repeating: 0, count: coachCount)
        for s in 0..<slotCount where slotsP[s].proc != 0 {
            let slot = slotsP + s
            guard let p = procIndex(of: s) else { throw corrupt("slot \(s) proc", "\(slot.pointee.proc)") }
            guard procsP[p].state == 1 else { throw corrupt("slot \(s) proc", "process entry \(p) is free") }
            guard s < rawSlotHigh else {
                throw corrupt("slot \(s)", "claimed, above the highest slot ever claimed (\(rawSlotHigh))")
            }
            // The owner writes `queued` and `idle` without the lock: atomically read.
            let raw = cshm_atomic_load_u32(&slot.pointee.phase)
            guard let phase = WorkerPhase(rawValue: raw) else { throw corrupt("slot \(s) phase", "\(raw)") }
            let channel = slot.pointee.channel
            // -1, or a channel: to enter, in commit on a coach, or for the section (coachCount + 1).
            guard channel >= -1 && Int(channel) <= coachCount + 1 else {
                throw corrupt("slot \(s) channel", "\(channel)")
            }
            guard phase.isInBatch else { continue }
            let c = Int(cshm_atomic_load_i32(&slot.pointee.coach))
            guard c >= 0 && c < coachCount else { throw corrupt("slot \(s) coach", "\(c) while \(phase)") }
            inside[c] += 1
            if phase == .committing { committers[c] += 1 }
        }
        for c in 0..<coachCount {
            let coach = coachesP[c]
            guard coach.triggered <= 1 else { throw corrupt("coach \(c) triggered", "\(coach.triggered)") }
            guard coach.ready <= 1 else { throw corrupt("coach \(c) ready", "\(coach.ready)") }
            guard coach.ready == 0 || coach.count < 0 else {
                throw corrupt("coach \(c) ready", "an outcome is published, but count is \(coach.count)")
            }
            let magnitude = coach.count.magnitude
            guard magnitude == UInt64(inside[c]) else {
                throw corrupt("coach \(c) count", "\(coach.count), but \(inside[c]) workers are inside")
            }
            guard coach.count >= 0 || coach.ready == 1 || committers[c] == 1 else {
                throw corrupt("coach \(c) count", "closed without an outcome, and \(committers[c]) committers")
            }
        }
        let holder = cbatch_atomic_load_u64(&coreP.pointee.holder)
        guard holder != 0 else { return }
        if let s = slot(ofToken: holder, below: slotHigh), let p = procIndex(of: s), dead.contains(p) { return }
        guard hasAsyncWorkers else {
            throw corrupt("core holder", "token \(holder) holds the critical section, but nobody holds the lock")
        }
        guard let s = slot(ofToken: holder, below: slotHigh), slotsP[s].proc != 0,
            WorkerPhase(rawValue: cshm_atomic_load_u32(&slotsP[s].phase))?.isInBatch == true
        else {
            throw corrupt(
                "core holder", "token \(holder) holds the critical section, but names no worker inside a batch")
        }
    }
}

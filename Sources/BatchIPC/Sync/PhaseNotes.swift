import Batch
import CBatchCore
import CShmSync

// Phase recording: each worker's phase in its participant slot, so that crash repair can tell
// which row of the crash table a dead worker is in. Under the lock a phase change is also a
// consistent point of the state, saved as the crash snapshot (cshm_shadow.h).

extension SharedSegment {
    /// Under the lock: saves the crash snapshot of the state as it is now, naming no slot's phase
    /// — after a change that is no phase change (a trigger, `leave()`), at attach, and at the end
    /// of a repair.
    @inlinable
    func saveSnapshot() { cshm_checkpoint(shadowRef, UInt32.max, 0, -1) }

    /// What this process knows of its worker `token` (a token of this process: its slot is the
    /// low 16 bits, `serial << 16 | slot + 1`) apart from the section's holder fields; a worker
    /// with no slot is idle.
    func ownRecord(token: UInt64) -> _OwnRecord {
        let s = Self.slotIndex(ofToken: token)
        guard UInt(bitPattern: s) < UInt(slotCount) else {
            return _OwnRecord(phase: .idle, coach: -1, keepsLock: false)
        }
        let section = localSections[s]
        return _OwnRecord(
            phase: WorkerPhase(rawValue: cshm_atomic_load_u32(localPhases + s)) ?? .idle, coach: Int(section.coach),
            keepsLock: section.keepsLock)
    }

    /// By the worker `token` of this process, inside its section: whether it keeps the mutex for
    /// it, as it recorded when it entered.
    @inlinable @inline(__always)
    func ownKeepsLock(token: UInt64) -> Bool? {
        let s = Self.slotIndex(ofToken: token)
        guard UInt(bitPattern: s) < UInt(slotCount) else { return nil }
        return localSections[s].keepsLock
    }

    /// The section's holder fields were found false by a worker of this process: the segment is
    /// corrupt (recorded; this process stops using it).
    func holderFieldsFalse(field: String, detail: String) -> SharedBatchError {
        broken(.corruptSegment(name: name, field: field, detail: detail))
    }

    /// Records the phase of the worker in slot `s` — in the segment, and in ``localPhases`` (what
    /// this process knows of its own workers, whatever the segment says). Inlined: it runs five
    /// times per operation.
    @inlinable @inline(__always)
    func note(_ phase: WorkerPhase, coach c: Int, slot s: Int) {
        guard UInt(bitPattern: s) < UInt(slotCount) else { return }  // never: `s` is this thread's slot
        // Under the lock: entered, waiting, committing, done, and idle on exit (coach >= 0).
        // (queued and idle after queueOut come without it; idle after a busy enter changed nothing.)
        if phase != .queued && c >= 0 {
            cshm_atomic_store_u32(localPhases + s, phase.rawValue)
            // The holder fields, just written by this worker's entering step (``ownRecord(token:)``;
            // the coach of its later phases is the same until it is idle).
            if phase == .entered {
                localSections[s] = (
                    Int32(truncatingIfNeeded: c), coreP.pointee.holder_state & CBATCH_HOLDER_KEEPS_LOCK != 0, false
                )
            } else {
                localSections[s].unrecorded = false
            }
            // One C call: the checkpoint (with the new phase), then the slot's phase and coach.
            cshm_note_locked(
                shadowRef, UInt32(truncatingIfNeeded: s), phase.rawValue,
                phase == .idle ? -1 : Int32(truncatingIfNeeded: c))
        } else if cshm_atomic_load_u32(localPhases + s) <= WorkerPhase.queued.rawValue {
            // Without the lock, and only outside a batch: a worker that announces its next
            // operation from inside one (its section, its commit function) keeps the batch's row
            // until it exits — a death now must count its exit, not an announcement.
            cshm_atomic_store_u32(localPhases + s, phase.rawValue)
            let slot = slotsP + s
            cshm_atomic_store_u32(&slot.pointee.phase, phase.rawValue)
            cshm_atomic_store_i32(&slot.pointee.coach, -1)
        }
        if phase != .committing, let hook = cshm_get_phase_hook() { hook(phase.rawValue) }
    }

    /// ``note(_:coach:slot:)`` by a worker that keeps the mutex until its next phase change
    /// (`_WorkerHome.noteKeepingLock`). A worker that has just entered an empty coach
    /// (`beginsBatch`) and its later phases until it releases the mutex are recorded in process
    /// memory only: no other participant can see that batch, and the crash snapshot stays the
    /// one taken before the worker entered — the state in which its slot says queued, which
    /// the segment's slot still says. Its death in between undoes the batch. The first phase
    /// noted otherwise (a wait, an exit, a commit that releases the mutex), or a change of the
    /// state in place (``stateChanged(slot:)``), records the worker's phase and the snapshot.
    @inlinable @inline(__always)
    func noteKeepingLock(_ phase: WorkerPhase, coach c: Int, slot s: Int, beginsBatch: Bool) {
        guard UInt(bitPattern: s) < UInt(slotCount) else { return }  // never: `s` is this thread's slot
        guard phase == .entered ? beginsBatch : localSections[s].unrecorded else {
            note(phase, coach: c, slot: s)
            return
        }
        cshm_atomic_store_u32(localPhases + s, phase.rawValue)
        if phase == .entered { localSections[s] = (Int32(truncatingIfNeeded: c), true, true) }
        if phase != .committing, let hook = cshm_get_phase_hook() { hook(phase.rawValue) }
    }

    /// Under the mutex, by the holder of the section (slot `s`: the caller's), after a change
    /// of the state that is no phase change (a trigger, `leave()`): saves the crash snapshot —
    /// with the holder's own phase when it has not recorded it yet (``noteKeepingLock``): from
    /// now on a restore keeps the holder in its batch, so its slot must say so.
    @usableFromInline
    func stateChanged(slot s: Int) {
        if UInt(bitPattern: s) < UInt(slotCount) && localSections[s].unrecorded {
            let phase = WorkerPhase(rawValue: cshm_atomic_load_u32(localPhases + s)) ?? .idle
            note(phase, coach: Int(localSections[s].coach), slot: s)
        } else {
            saveSnapshot()
        }
    }
}

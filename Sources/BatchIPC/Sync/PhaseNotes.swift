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
                    Int32(truncatingIfNeeded: c), coreP.pointee.holder_state & CBATCH_HOLDER_KEEPS_LOCK != 0
                )
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
}

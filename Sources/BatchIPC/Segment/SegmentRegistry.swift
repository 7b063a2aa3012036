import Synchronization

// The open mappings of this process. A thread's exit releases its participant slots in every
// segment it used (Sync/Participants.swift); this registry tells which are still mapped.

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

/// Whether the mapping with `serial` is still open in this process.
func isLive(_ serial: UInt64) -> Bool {
    liveSegments.withLock { $0[serial] != nil }
}

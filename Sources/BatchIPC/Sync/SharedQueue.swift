import Batch
import CBatchCore
import CShmSync
import Synchronization

// The queue of announced workers in a segment: a sum over processes of `cshm_proc.queued` (one
// atomic add per announcement or take-back, on the process's own entry) minus
// `cshm_proc.departed` (announcements that stopped counting under the lock: a plain store), so
// that a process that dies at any instant has its announcements removed exactly by crash repair.
// Consequence: a worker announces and enters in the same process (any thread of it).

extension SharedSegment {
    /// Adds `delta` to this process's `queued` (announcements count on the process entry while
    /// attached, else in process memory: those of a closed segment count nowhere, and `enter`
    /// then fails); returns the process's part of the queue after it (`cbatch_queue_add`).
    @inlinable func myLength(afterAdding delta: Int64) -> Int64 {
        let p = Int(myProc.load(ordering: .relaxed))
        guard p >= 0 else { return cbatch_atomic_add_i64(detachedQueue, delta) }
        return cbatch_queue_add(cshm_proc_queued(procsP + p), cshm_proc_departed(procsP + p), delta)
    }

    /// Under the lock: an announced worker of this process stops counting — it enters, or gives
    /// up waiting to enter. No read-modify-write: only the lock's holder writes `departed`.
    /// Negative as ``queueOut()`` (or its task form, without `threadCounts`) is; otherwise the
    /// queue's length after, or 0 when not `needLength` (the sum over processes is skipped).
    @inlinable @inline(__always)
    func leaveQueue(threadCounts: Bool, needLength: Bool) -> Int {
        let p = Int(myProc.load(ordering: .relaxed))
        let mine: Int64
        if p >= 0 {
            mine = cbatch_queue_depart(cshm_proc_queued(procsP + p), cshm_proc_departed(procsP + p))
        } else {
            mine = cbatch_atomic_add_i64(detachedQueue, -1)
        }
        var thread: Int64 = -1
        if threadCounts, let cache = cshm_tls(), cache[0].serial == serial {
            cache[0].queued &-= 1
            thread = cache[0].queued
        }
        if mine < 0 { return queueCounterBelowZero(mine, thread: thread) }
        return needLength ? queueLength : 0
    }

    /// Lock free: announce a worker of this process (the calling thread counts it too).
    @inlinable @inline(__always)
    func queueIn() -> Int {
        _ = mySlot()  // the thread's cache entry, where it counts its own announcements
        _ = myLength(afterAdding: 1)
        let cache = cshm_tls()!
        if cache[0].serial == serial { cache[0].queued &+= 1 }
        return queueLength
    }

    /// Takes back an announcement of this process. Negative (the engine's misuse trap: more
    /// taken back than announced) only when both this process's counter and the calling
    /// thread's own count go below zero; a process counter below zero while the thread did
    /// announce was written by another process: a corrupt segment, not a misuse.
    @inlinable
    func queueOut() -> Int {
        let mine = myLength(afterAdding: -1)
        let cache = cshm_tls()!
        var thread: Int64 = -1
        if cache[0].serial == serial {
            cache[0].queued &-= 1
            thread = cache[0].queued
        }
        if mine < 0 { return queueCounterBelowZero(mine, thread: thread) }
        return queueLength
    }

    /// Lock free: announce a worker of this process that is a task (it may resume on any thread:
    /// no thread counts it).
    func queueInForTask() -> Int {
        _ = myLength(afterAdding: 1)
        return queueLength
    }

    /// Takes back an announcement of a task of this process. Negative (the engine's misuse
    /// trap) when this process's counter goes from 0 to -1; further below, the counter was
    /// written by another process.
    func queueOutForTask() -> Int {
        let mine = myLength(afterAdding: -1)
        if mine < 0 { return queueCounterBelowZero(mine, thread: -1) }
        return queueLength
    }

    @usableFromInline @inline(never)
    func queueCounterBelowZero(_ mine: Int64, thread: Int64) -> Int {
        // Closed (or found corrupt) meanwhile: the announcement may have gone to the process
        // entry, which close() gave up, and its taking back to this process's own counter.
        if isBroken.load(ordering: .acquiring) { return queueLength }
        if thread < 0 && mine == -1 { return -1 }  // this process took back more than it announced
        broken(
            .corruptSegment(
                name: name, field: "process entry \(myProc.load(ordering: .relaxed)) queued",
                detail: "\(mine + 1) announcements before this thread's own was taken back"))
        return queueLength
    }

    /// The sum of the attached processes' announcements; exact under the lock. Each counter is
    /// another process's word: it counts as 0...2^32, so that the sum never overflows. A free
    /// entry counts nothing, whatever its counter says: a thread of a process that is closing
    /// the segment may take back its announcement after `close()` gave the entry up (the entry's
    /// next owner resets it when it attaches).
    @inlinable @inline(__always)
    var queueLength: Int {
        let high = min(Int(cshm_atomic_load_u32(&header.pointee.proc_high)), procCount)
        var sum: Int64 = 0
        for p in 0..<high where cshm_atomic_load_u32(&procsP[p].state) == 1 {
            sum &+= min(max(processQueue(p), 0), 1 << 32)
        }
        return Int(sum)
    }

    /// Process entry `p`'s part of the queue (`cbatch_queue_length`). Another process's words:
    /// any value (the callers clamp it).
    @inlinable @inline(__always)
    func processQueue(_ p: Int) -> Int64 {
        cbatch_queue_length(cshm_proc_queued(procsP + p), cshm_proc_departed(procsP + p))
    }
}

import Batch
import CBatchCore
import CShmSync
import Synchronization

// The queue of announced workers in a segment: a sum of per-process counters (`cshm_proc.queued`),
// one atomic add per announcement on the announcing process's own entry, so that a process that
// dies at any instant has its announcements removed exactly by crash repair. Consequence: a worker
// announces and enters in the same process (any thread of it).

extension SharedSegment {
    /// This process's counter: its process entry's while attached, else one in process memory
    /// (announcements of a closed segment count nowhere: `enter` then fails).
    @inlinable var myQueue: UnsafeMutablePointer<Int64> {
        let p = Int(myProc.load(ordering: .relaxed))
        return p >= 0 ? cshm_proc_queued(procsP + p) : detachedQueue
    }

    /// Lock free: announce a worker of this process (the calling thread counts it too).
    @inlinable
    func queueIn() -> Int {
        _ = mySlot()  // the thread's cache entry, where it counts its own announcements
        _ = cbatch_atomic_add_i64(myQueue, 1)
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
        let mine = cbatch_atomic_add_i64(myQueue, -1)
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
        _ = cbatch_atomic_add_i64(myQueue, 1)
        return queueLength
    }

    /// Takes back an announcement of a task of this process. Negative (the engine's misuse
    /// trap) when this process's counter goes from 0 to -1; further below, the counter was
    /// written by another process.
    func queueOutForTask() -> Int {
        let mine = cbatch_atomic_add_i64(myQueue, -1)
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
            sum &+= min(max(cbatch_atomic_load_i64(cshm_proc_queued(procsP + p)), 0), 1 << 32)
        }
        return Int(sum)
    }
}

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

    /// Lock free: announce a worker of this process.
    @inlinable
    func queueIn() -> Int {
        _ = cbatch_atomic_add_i64(myQueue, 1)
        return queueLength
    }

    /// Takes back an announcement of this process. Negative (the engine's misuse trap) only when
    /// this process's own counter goes below zero: more taken back than announced here.
    @inlinable
    func queueOut() -> Int {
        let mine = cbatch_atomic_add_i64(myQueue, -1)
        return mine < 0 ? Int(mine) : queueLength
    }

    /// The sum of the processes' announcements; exact under the lock. Each counter is another
    /// process's word: it counts as 0...2^32 (a free entry's stray count is found by
    /// ``checkState()``), so that the sum never overflows.
    @inlinable @inline(__always)
    var queueLength: Int {
        let high = min(Int(cshm_atomic_load_u32(&header.pointee.proc_high)), procCount)
        var sum: Int64 = 0
        for p in 0..<high { sum &+= min(max(cbatch_atomic_load_i64(cshm_proc_queued(procsP + p)), 0), 1 << 32) }
        return Int(sum)
    }
}

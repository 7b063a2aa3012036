import Batch
import CBatchCore
import CShmSync
import Synchronization

// The queue of announced workers in a segment: a sum of per-process counters (`cshm_proc.queued`),
// one atomic add per announcement on the announcing process's own entry, so that a process that
// dies at any instant has its announcements removed exactly by crash repair. Consequence: a worker
// announces and enters in the same process (any thread of it).

extension SharedSegment {
    /// This process's counter; the process must be attached (a coordinator attaches it).
    @inlinable var myQueue: UnsafeMutablePointer<Int64> {
        let p = Int(myProc.load(ordering: .relaxed))
        precondition(p >= 0, "segment \(name) used before a coordinator attached this process")
        return cshm_proc_queued(procsP + p)
    }

    /// Lock free: announce a worker of this process.
    @inlinable
    func queueIn() -> Int {
        _ = cbatch_atomic_add_i64(myQueue, 1)
        return queueLength
    }

    /// Takes back an announcement of this process.
    @inlinable
    func queueOut() -> Int {
        _ = cbatch_atomic_add_i64(myQueue, -1)
        return queueLength
    }

    /// The sum of the processes' announcements; exact under the lock.
    @inlinable @inline(__always)
    var queueLength: Int {
        let high = min(Int(cshm_atomic_load_u32(&header.pointee.proc_high)), procCount)
        var sum: Int64 = 0
        for p in 0..<high { sum += cbatch_atomic_load_i64(cshm_proc_queued(procsP + p)) }
        return Int(sum)
    }
}

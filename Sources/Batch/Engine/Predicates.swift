import CBatchCore

/// The named states of a coach. Every rule of the algorithm that looks at a coach's fields asks
/// one of these, so that no home re-derives them (`CBatchCore.h` says what the fields mean).
/// Under the lock, unless a home documents otherwise.
extension _BatchEngine {
    /// The batch is filling: it accepts workers (`count >= 0`). An empty coach is filling too.
    @inlinable
    public func isFilling(_ c: Int) -> Bool { coach(c).pointee.count >= 0 }

    /// Whether `coach` accepts workers: it is filling, not triggered (a triggered batch commits
    /// as soon as it can; workers not yet entered go to the next batch), and one more fits its
    /// count (a count of `Int64.max` — only another process can write it — admits nobody: the
    /// segment is then found corrupt by the waiter, instead of a count that wraps).
    @inlinable
    public func isFree(_ c: Int) -> Bool {
        UInt64(bitPattern: coach(c).pointee.count) < UInt64(Int64.max) && coach(c).pointee.triggered == 0
    }

    /// The batch is closed and its commit function runs (or its committer died doing so): no
    /// outcome yet.
    @inlinable
    public func isCommitting(_ c: Int) -> Bool { coach(c).pointee.count < 0 && coach(c).pointee.ready == 0 }

    /// The batch's outcome is published; its workers have not all exited.
    @inlinable
    public func isPublished(_ c: Int) -> Bool { coach(c).pointee.ready != 0 }

    /// Workers inside the batch (entered, not exited), filling or closed.
    @inlinable
    public func workersInside(_ c: Int) -> Int {
        let count = coach(c).pointee.count
        return Int(count >= 0 ? count : 0 &- count)  // Int64.min (another process wrote it) stays negative
    }

    /// The coach an entering worker takes without a balancer (the first free one), -1 if none.
    @inlinable
    public var firstFree: Int {
        for c in 0..<coachCount where isFree(c) { return c }
        return -1
    }

    /// Some coach is running its commit function.
    @inlinable
    public var anyCommitting: Bool {
        for c in 0..<coachCount where isCommitting(c) { return true }
        return false
    }

    /// The batch of `coach` has its first worker now: its per-batch data (a record arena) is
    /// stale and must be dropped. True right after the entering step that gave index 0.
    @inlinable
    public func hasFirstWorkerOnly(_ c: Int) -> Bool { coach(c).pointee.count == 1 }

    /// What a worker waiting on `channel` waits for is a few steps of other workers away, not a
    /// commit function: in commit, its batch is still filling (it waits for announced workers)
    /// or already published; to enter, no coach is committing (closed coaches only wait for
    /// their workers to exit). Homes use it to decide between yielding the CPU and sleeping.
    @inlinable
    public func wakeIsNear(_ channel: Int) -> Bool {
        if channel == Self.enterChannel { return !anyCommitting }
        return !isCommitting(channel - 1)
    }
}

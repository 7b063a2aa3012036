import Batch

/// A ``/Batch/Multi`` whose coaches live in a shared-memory segment: several batches in flight at once,
/// joined by threads of several processes.
public final class SharedMulti<Result: BitwiseCopyable & Sendable>: MultiBatchCoordinator, SharedBatching {
    public let _engine: _BatchEngine<_SharedHome<Result>>
    public let _balancer: _Balancer?

    /// A multi-coordinator over every coach of `segment`.
    /// - Parameters:
    ///   - segment: an open segment; the coordinator keeps its mapping (after `segment.close()` its
    ///     calls fail with ``SharedBatchError/closed(name:)``).
    ///   - waiting: how workers wait for each other; ``/Batch/BatchWaiting/adaptive`` by default.
    ///   - commit: runs once per batch with the batch's contents (``SharedBatchContents/coach``
    ///     says which coach), in the process of the batch's last worker, without the lock.
    /// - Throws: ``SharedBatchError/resultTooLarge(size:capacity:)``,
    ///   ``SharedBatchError/processTableFull(capacity:)``, ``SharedBatchError/closed(name:)``,
    ///   ``SharedBatchError/corruptSegment(name:field:detail:)``.
    public init(
        segment: SharedSegment, waiting: BatchWaiting = .adaptive,
        commit: @escaping @Sendable (_ contents: borrowing SharedBatchContents) throws -> Result
    ) throws(SharedBatchError) {
        try segment.checkResult(Result.self)
        _engine = _BatchEngine(home: try _SharedHome(segment: segment, commit: commit), waiting: _WaitPolicy(waiting))
        _balancer = _Balancer(coaches: segment.coachCount)
    }

    // `balancer` comes from MultiBatchCoordinator. It is a closure of this process: each
    // process of a segment may set its own, and it decides for that process's workers only.
}

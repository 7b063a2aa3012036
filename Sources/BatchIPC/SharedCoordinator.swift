import Batch

/// A ``/Batch/Coordinator`` whose batch lives in a shared-memory segment, so that threads of several
/// processes join one batch.
///
/// It has the same low-level calls and the same safe API (`batch { section in … }`, tickets) as
/// `Coordinator` — both conform to `BatchCoordinator` — plus the segment's state and record
/// arena (``SharedBatching``). The worker that commits runs *its own process's* commit function
/// over the batch's contents, so every process must make its coordinator with the same function.
///
/// ```swift
/// let segment = try SharedSegment.openOrCreate(name: "/sums", configuration: .init(stateSize: 8))
/// let coordinator = try SharedCoordinator<Int>(segment: segment) { contents in
///     contents.load(as: Int.self)                       // the batch's sum, committed at once
/// }
/// let sum = try coordinator.batch { section in
///     try coordinator.withState(Int.self, in: section) { sum in
///         if section.isFirst { sum = 0 }
///         sum += 1
///     }
///     return try section.commit()
/// }
/// ```
public final class SharedCoordinator<Result: BitwiseCopyable & Sendable>: BatchCoordinator, SharedBatching {
    public let _engine: _BatchEngine<_SharedHome<Result>>

    /// A coordinator over `segment`, which must have one coach.
    /// - Parameters:
    ///   - segment: an open segment; the coordinator keeps its mapping (after `segment.close()` its
    ///     calls fail with ``SharedBatchError/closed(name:)``).
    ///   - waiting: how workers wait for each other; ``/Batch/BatchWaiting/adaptive`` by default.
    ///   - commit: runs once per batch in the process of the batch's last worker, without the
    ///     lock, with the batch's ``SharedBatchContents``. What it returns (copied into the
    ///     segment) or throws (as its description, in other processes) is what every worker of
    ///     the batch gets.
    /// - Throws: ``SharedBatchError/wrongCoachCount(name:coaches:)``,
    ///   ``SharedBatchError/resultTooLarge(size:capacity:)``,
    ///   ``SharedBatchError/processTableFull(capacity:)``, ``SharedBatchError/closed(name:)``,
    ///   ``SharedBatchError/corruptSegment(name:field:detail:)``.
    public init(
        segment: SharedSegment, waiting: BatchWaiting = .adaptive,
        commit: @escaping @Sendable (_ contents: borrowing SharedBatchContents) throws -> Result
    ) throws(SharedBatchError) {
        guard segment.coachCount == 1 else { throw .wrongCoachCount(name: segment.name, coaches: segment.coachCount) }
        try segment.checkResult(Result.self)
        _engine = _BatchEngine(home: try _SharedHome(segment: segment, commit: commit), waiting: _WaitPolicy(waiting))
    }

    /// Always `nil`: a coordinator has one coach.
    public var _balancer: _Balancer? { nil }
}

extension SharedSegment {
    func checkResult<R>(_: R.Type) throws(SharedBatchError) {
        guard MemoryLayout<R>.size <= configuration.resultCapacity else {
            throw .resultTooLarge(size: MemoryLayout<R>.size, capacity: configuration.resultCapacity)
        }
    }
}

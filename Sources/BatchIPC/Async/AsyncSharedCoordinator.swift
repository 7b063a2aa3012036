import Batch

/// An ``/Batch/AsyncCoordinator`` whose batch lives in a shared-memory segment: tasks of several
/// processes — and blocking workers of ``SharedCoordinator``s over the same segment — join one
/// batch, and no thread of the cooperative pool ever waits for another worker.
///
/// It has the async API of `AsyncCoordinator` (the safe `batch { section in … }`, tickets, the
/// low-level calls, the same task-cancellation semantics: docs/ASYNC.md) and the segment's state
/// and record arena of `SharedCoordinator` (``AsyncSharedBatching``). The commit function may
/// `await`. The worker that commits runs *its own process's* commit function over the batch's
/// contents, so every process must make its coordinator with the same function.
///
/// ```swift
/// let segment = try SharedSegment.openOrCreate(name: "/sums-async", configuration: .init(stateSize: 8))
/// let coordinator = try AsyncSharedCoordinator<Int>(segment: segment) { contents in
///     contents.load(as: Int.self)                       // the batch's sum, committed at once
/// }
/// let sum = try await coordinator.batch { section in
///     try coordinator.withState(Int.self, in: section) { sum in
///         if section.isFirst { sum = 0 }
///         sum += 1
///     }
///     return try await section.commit()
/// }
/// ```
///
/// How tasks wait: a task that must wait records its wait in the segment and is suspended; one
/// thread per segment and process sleeps on the segment's wait channels for all of them and
/// resumes those whose channel was woken. The segment's mutex is held for one step at a time
/// (microseconds), never across an `await`; a task never waits on it for a batch. Each task
/// takes a participant slot ("seat") when it enters and gives it back when it exits: size the
/// segment's `participants` for the workers inside at once (tasks and threads), plus up to 8
/// unused seats each process keeps.
public final class AsyncSharedCoordinator<Result: BitwiseCopyable & Sendable>: AsyncBatchCoordinator,
    AsyncSharedBatching
{
    public let _engine: _BatchEngine<_AsyncSharedHome<Result>>

    /// A coordinator over `segment`, which must have one coach.
    /// - Parameters:
    ///   - segment: an open segment; the coordinator keeps it open.
    ///   - waiting: how workers wait for each other; ``/Batch/BatchWaiting/adaptive`` by default.
    ///   - commit: runs once per batch in the process of the batch's last worker, without the
    ///     section, with the batch's ``SharedBatchContents`` (valid during the call, awaits
    ///     included). What it returns (copied into the segment) or throws (as its description,
    ///     in other processes) is what every worker of the batch gets.
    /// - Throws: ``SharedBatchError/wrongCoachCount(name:coaches:)``,
    ///   ``SharedBatchError/resultTooLarge(size:capacity:)``,
    ///   ``SharedBatchError/processTableFull(capacity:)``.
    public init(
        segment: SharedSegment, waiting: BatchWaiting = .adaptive,
        commit: @escaping @Sendable (_ contents: borrowing SharedBatchContents) async throws -> Result
    ) throws(SharedBatchError) {
        guard segment.coachCount == 1 else { throw .wrongCoachCount(name: segment.name, coaches: segment.coachCount) }
        try segment.checkResult(Result.self)
        _engine = _BatchEngine(
            home: try _AsyncSharedHome(segment: segment, commit: commit), waiting: _WaitPolicy(waiting))
    }

    /// Always `nil`: a coordinator has one coach.
    public var _balancer: _Balancer? { nil }
}

/// An ``/Batch/AsyncMulti`` whose coaches live in a shared-memory segment: several batches in flight
/// at once, joined by tasks (and threads) of several processes. See ``AsyncSharedCoordinator``
/// for how tasks wait.
public final class AsyncSharedMulti<Result: BitwiseCopyable & Sendable>: AsyncMultiBatchCoordinator,
    AsyncSharedBatching
{
    public let _engine: _BatchEngine<_AsyncSharedHome<Result>>
    public let _balancer: _Balancer?

    /// A multi-coordinator over every coach of `segment`.
    /// - Parameters:
    ///   - segment: an open segment; the coordinator keeps it open.
    ///   - waiting: how workers wait for each other; ``/Batch/BatchWaiting/adaptive`` by default.
    ///   - commit: runs once per batch with the batch's contents (``SharedBatchContents/coach``
    ///     says which coach), in the process of the batch's last worker, without the section.
    /// - Throws: ``SharedBatchError/resultTooLarge(size:capacity:)``,
    ///   ``SharedBatchError/processTableFull(capacity:)``.
    public init(
        segment: SharedSegment, waiting: BatchWaiting = .adaptive,
        commit: @escaping @Sendable (_ contents: borrowing SharedBatchContents) async throws -> Result
    ) throws(SharedBatchError) {
        try segment.checkResult(Result.self)
        _engine = _BatchEngine(
            home: try _AsyncSharedHome(segment: segment, commit: commit), waiting: _WaitPolicy(waiting))
        _balancer = _Balancer(coaches: segment.coachCount)
    }

    // `balancer` comes from AsyncMultiBatchCoordinator: a closure of this process, deciding for
    // this process's workers only.
}

/// Combines the work of concurrent tasks into one async commit, one batch at a time, without
/// ever blocking a thread.
///
/// The async twin of ``Coordinator``: the same algorithm (docs/DESIGN.md §1, written once in
/// `Engine/`), driven with continuations. A task that waits — for the critical section, to
/// enter while the batch commits, or for the committer — is suspended, so hundreds of tasks can
/// batch through one coordinator on the cooperative thread pool, where the blocking API
/// deadlocks. See docs/ASYNC.md for the semantics of task cancellation.
///
/// ```swift
/// final class Pending: @unchecked Sendable { var rows: [Row] = [] } // touched only in the section
/// let pending = Pending()
/// let coordinator = AsyncCoordinator<Int> { try await db.insert(pending.rows) }
///
/// let inserted = try await coordinator.batch { section in
///     if section.isFirst { pending.rows.removeAll() }
///     pending.rows.append(row)
///     return try await section.commit()
/// }
/// ```
///
/// For the common "submit one item, get the batch's result" case, use ``AsyncBatcher``.
public final class AsyncCoordinator<Result: Sendable>: AsyncBatchCoordinator {
    /// Not API: the algorithm over this coordinator's async home.
    public let _engine: _BatchEngine<_AsyncHome<Result>>

    /// A coordinator whose batches are committed by `commit`.
    /// - Parameters:
    ///   - commit: runs once per batch, in the task of the batch's last worker (or in an
    ///     unstructured task that does not inherit its cancellation, when the batch has other
    ///     workers), without the section; reads the shared state built by the workers. What it
    ///     returns or throws is what every worker of the batch gets.
    ///   - waiting: how workers wait for each other; ``BatchWaiting/adaptive`` by default.
    public init(waiting: BatchWaiting = .adaptive, commit: @escaping @Sendable () async throws -> Result) {
        _engine = _BatchEngine(home: _AsyncHome(commit: commit), waiting: _WaitPolicy(waiting))
    }

    /// Always `nil`: a coordinator has one coach.
    @inlinable public var _balancer: _Balancer? { nil }
}

/// Several batches in flight at once ("coaches"), each working like an ``AsyncCoordinator``.
///
/// The async twin of ``Multi``: a worker enters the first free coach (one that is filling, not
/// committing), or the one the ``AsyncMultiBatchCoordinator/balancer`` picks, and suspends
/// instead of blocking whenever it must wait.
public final class AsyncMulti<Result: Sendable>: AsyncMultiBatchCoordinator {
    /// Not API: the algorithm over this multi-coordinator's async home.
    public let _engine: _BatchEngine<_AsyncHome<Result>>
    /// Not API: the balancer's choice function and its reusable bitset.
    public let _balancer: _Balancer?

    /// A multi-coordinator with `coaches` coaches whose batches are committed by `commit`.
    /// - Parameters:
    ///   - coaches: how many batches may be in flight at once; at least 1.
    ///   - commit: runs once per batch with the coach's number, without the section, in the task
    ///     of the batch's last worker (or shielded from its cancellation when the batch has
    ///     other workers).
    ///   - waiting: how workers wait for each other; ``BatchWaiting/adaptive`` by default.
    public init(
        coaches: Int, waiting: BatchWaiting = .adaptive,
        commit: @escaping @Sendable (_ coach: Int) async throws -> Result
    ) {
        precondition(coaches >= 1, "AsyncMulti needs at least one coach (got \(coaches))")
        _engine = _BatchEngine(home: _AsyncHome(coaches: coaches, commit: commit), waiting: _WaitPolicy(waiting))
        _balancer = _Balancer(coaches: coaches)
    }
}

/// Several batches in flight at once ("coaches"), each working like a ``Coordinator``.
///
/// A worker enters the first free coach (one that is filling, not committing), or the one the
/// ``balancer`` picks. Use it when the destination takes several commits in parallel — three
/// database replicas, say.
public final class Multi<Result: Sendable>: MultiBatchCoordinator {
    public let _engine: _BatchEngine<_LocalHome<Result>>
    public let _balancer: _Balancer?

    /// A multi-coordinator with `coaches` coaches whose batches are committed by `commit`.
    /// - Parameters:
    ///   - coaches: how many batches may be in flight at once; at least 1.
    ///   - commit: runs once per batch with the coach's number, on the thread of the batch's last
    ///     worker, without the lock.
    ///   - waiting: how workers wait for each other; ``BatchWaiting/adaptive`` by default.
    public init(
        coaches: Int, waiting: BatchWaiting = .adaptive, commit: @escaping @Sendable (_ coach: Int) throws -> Result
    ) {
        precondition(coaches >= 1, "Multi needs at least one coach (got \(coaches))")
        _engine = _BatchEngine(home: _LocalHome(coaches: coaches, commit: commit), waiting: _WaitPolicy(waiting))
        _balancer = _Balancer(coaches: coaches)
    }
}

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
    public init(coaches: Int, commit: @escaping @Sendable (_ coach: Int) throws -> Result) {
        precondition(coaches >= 1, "Multi needs at least one coach (got \(coaches))")
        _engine = _BatchEngine(home: _LocalHome(coaches: coaches, commit: commit))
        _balancer = _Balancer(coaches: coaches)
    }

    /// Chooses the coach a worker enters; `nil` (the default) takes the first free coach.
    ///
    /// It is called under the lock with the set of free coaches — bit `n % 64` of word `n / 64`
    /// is set when coach `n` accepts workers — and returns the coach to enter. A negative number,
    /// or a coach that is not free, means "not now": the worker waits (or, non-blocking, gets
    /// busy) and is asked again when a coach becomes free. While it waits like that it does not
    /// count as coming, so it never holds up the batches that are filling. The set is valid only
    /// during the call. Do not set it from inside the critical section.
    public var balancer: (@Sendable (_ free: [UInt64]) -> Int)? {
        get {
            _engine.home.lock()
            defer { _engine.home.unlock() }
            return _balancer?.pick
        }
        set {
            _engine.home.lock()
            defer { _engine.home.unlock() }
            _balancer?.pick = newValue
        }
    }
}

/// Combines the work of concurrent threads into one commit, one batch at a time.
///
/// Each worker announces itself, prepares its data, enters the critical section, adds its data to
/// the shared state, and commits. The last worker in runs the commit function once for the whole
/// batch; every worker of the batch gets the same result or the same error. See the module
/// overview for the diagram and ``BatchCoordinator`` for every call.
///
/// ```swift
/// let sum = Mutex(0)   // shared state, touched only inside the critical section
/// let coordinator = Coordinator<Int> { sum.withLock { $0 } }
///
/// let total = try coordinator.batch { section in
///     sum.withLock { if section.index == 0 { $0 = 0 }; $0 += 1 }
///     return try section.commit()
/// }
/// ```
public final class Coordinator<Result: Sendable>: BatchCoordinator {
    public let _engine: _BatchEngine<_LocalHome<Result>>

    /// A coordinator whose batches are committed by `commit`.
    /// - Parameters:
    ///   - commit: runs once per batch, on the thread of the batch's last worker, without the
    ///     lock; reads the shared state built by the workers. What it returns or throws is what
    ///     every worker of the batch gets.
    ///   - waiting: how workers wait for each other; ``BatchWaiting/adaptive`` by default.
    public init(waiting: BatchWaiting = .adaptive, commit: @escaping @Sendable () throws -> Result) {
        _engine = _BatchEngine(home: _LocalHome(coaches: 1) { _ in try commit() }, waiting: _WaitPolicy(waiting))
    }

    /// Always `nil`: a coordinator has one coach.
    @inlinable public var _balancer: _Balancer? { nil }
}

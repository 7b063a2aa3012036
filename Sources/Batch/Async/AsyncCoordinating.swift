/// Not API: what ``AsyncCoordinator`` and ``AsyncMulti`` have in common — the engine over an
/// async home, and for `AsyncMulti` a balancer. The async safe API (``AsyncBatchTicket``,
/// ``AsyncBatchSection``, `batch(blocking:_:)`) is written once against it.
public protocol _AsyncBatchCoordinating<Result>: AnyObject, Sendable {
    /// What every worker of a committed batch gets.
    associatedtype Result: Sendable
    associatedtype _Home: _AsyncBatchHome where _Home.Result == Result
    /// The algorithm over this coordinator's home.
    var _engine: _BatchEngine<_Home> { get }
    /// The balancer, or `nil` for a single coach.
    var _balancer: _Balancer? { get }
}

/// A coordinator of one batch at a time for Swift concurrency: ``AsyncCoordinator``.
///
/// The same protocol as ``BatchCoordinator`` (docs/DESIGN.md), but a worker that must wait — to
/// enter while the batch commits, or in `commit()` for the committer — *suspends* instead of
/// blocking a thread, so it is safe on the cooperative thread pool. The order of calls for one
/// worker is `queueIn()` → prepare → `await enter()` → add to the shared state →
/// `await commit()` or `cancel()` (or neither: leave) → `exit()`. Prefer the safe form,
/// `try await batch { section in … }`.
public protocol AsyncBatchCoordinator<Result>: _AsyncBatchCoordinating {}

/// A coordinator of several batches in flight ("coaches") for Swift concurrency:
/// ``AsyncMulti``.
public protocol AsyncMultiBatchCoordinator<Result>: _AsyncBatchCoordinating {}

// MARK: - Queue: shared by both shapes.

extension _AsyncBatchCoordinating {
    /// Announces a worker: committers wait for announced workers before committing.
    ///
    /// Lock free, never suspends. Call it as early as possible, before preparing the data, then
    /// `enter()`. A worker counts as coming until it enters, even while it waits for a committing
    /// batch.
    /// - Returns: the number of announced workers after this one joined.
    @inlinable @discardableResult
    public func queueIn() -> Int { _engine.queueIn() }

    /// Takes back an announcement: the worker will not enter after all. Call ``notify()`` next,
    /// so that waiting committers re-check the queue.
    /// - Returns: the number of announced workers after this one left.
    @inlinable @discardableResult
    public func queueOut() -> Int { _engine.queueOut() }

    /// The number of announced workers that have not entered (or left) yet.
    @inlinable
    public var queueLength: Int { _engine.home.queueLength }

    /// Wakes the workers suspended in `commit()`, so that they re-check whether they should
    /// commit, and the workers waiting to enter. Call it after ``queueOut()``. Never suspends;
    /// unlike the blocking `notify()` it may be called anywhere, even inside the section.
    @inlinable
    public func notify() { _engine.notify() }
}

// MARK: - AsyncCoordinator: one coach.

extension AsyncBatchCoordinator {
    /// Enters the batch: takes the critical section and stops counting as coming.
    ///
    /// Suspends while the batch is committing or another task holds the section (the worker
    /// still counts as coming meanwhile). Call `queueIn()` first and ``exit()`` after, always
    /// (use `defer`; `exit()` does not suspend).
    /// - Parameter blocking: `false` to return -1 instead of waiting while the batch commits; the
    ///   worker then no longer counts as coming and must not call `exit()`. (It may still
    ///   suspend briefly for the section itself.)
    /// - Returns: the worker's index in the batch (0: reset the shared state first), or -1.
    /// - Throws: `CancellationError` when the task is cancelled before it entered: it left the
    ///   queue, the other workers are not affected, and it must not call `exit()`.
    @inlinable
    nonisolated(nonsending) public func enter(blocking: Bool = true) async throws -> Int {
        try await _engine.asyncEnter(blocking: blocking, balancer: nil, task: _currentTask())?.index ?? -1
    }

    /// Leaves the batch and the critical section. Call it exactly once after every successful
    /// ``enter(blocking:)``, whether or not the worker committed. Never suspends.
    /// - Returns: how many workers of the batch have not exited yet.
    @inlinable @discardableResult
    public func exit() -> Int { _engine.asyncExit(coach: 0, me: _engine.home.threadToken()) }

    /// Asks for the batch to be committed as soon as possible: workers already in it are
    /// committed with it; workers that have not entered go to the next batch.
    @inlinable
    public func trigger() { _engine.asyncTrigger(coach: 0, me: _engine.home.threadToken()) }

    /// Commits the batch, or suspends until the worker that commits it has published the outcome.
    ///
    /// The last worker in (the queue is empty, or the batch was triggered) runs the async commit
    /// function once, without the section; everyone else waits. Every worker gets the same
    /// result, or the same error. Not cancellable: a cancelled worker still gets the batch's
    /// outcome (its data is in the batch).
    /// - Throws: the commit function's error, the error of a ``cancel(_:)``, or
    ///   ``/Batch/BatchError/workerFailed(_:)``.
    @inlinable
    nonisolated(nonsending) public func commit() async throws -> Result {
        try await _engine.asyncCommit(coach: 0, me: _engine.home.threadToken())
    }

    /// Cancels the batch without committing it: every worker of the batch gets `error`
    /// (``/Batch/BatchError/canceled`` when `nil`). Never suspends.
    /// - Throws: always; that error.
    @inlinable @discardableResult
    public func cancel(_ error: (any Error)? = nil) throws -> Result {
        try _engine.asyncCancel(coach: 0, .cancel(error), me: _engine.home.threadToken())
    }
}

// MARK: - AsyncMulti: several coaches.

extension AsyncMultiBatchCoordinator {
    /// The number of coaches (batches that may be in flight at once).
    @inlinable
    public var coaches: Int { _engine.coachCount }

    /// Enters a free coach: the first one, or the balancer's choice.
    ///
    /// Suspends while no coach accepts workers (all are committing) or the balancer refuses.
    /// - Parameter blocking: `false` to return `(-1, -1)` instead of waiting; the worker then no
    ///   longer counts as coming and must not call `exit(coach:)`.
    /// - Returns: the coach and the worker's index in it (0: reset that coach's state first).
    /// - Throws: `CancellationError` when the task is cancelled before it entered; see
    ///   ``/Batch/AsyncBatchCoordinator/enter(blocking:)``.
    @inlinable
    nonisolated(nonsending) public func enter(blocking: Bool = true) async throws -> (coach: Int, index: Int) {
        guard
            let (coach, index, _) = try await _engine.asyncEnter(
                blocking: blocking, balancer: _balancer, task: _currentTask())
        else { return (-1, -1) }
        return (coach, index)
    }

    /// Leaves `coach`, entered with ``enter(blocking:)``. Call it exactly once per enter. Never
    /// suspends.
    /// - Returns: how many workers of that batch have not exited yet.
    @inlinable @discardableResult
    public func exit(coach: Int) -> Int { _engine.asyncExit(coach: coach, me: _engine.home.threadToken()) }

    /// Asks for the batch of `coach` to be committed as soon as possible.
    @inlinable
    public func trigger(coach: Int) { _engine.asyncTrigger(coach: coach, me: _engine.home.threadToken()) }

    /// Commits the batch of `coach`, or suspends until its committer published the outcome; see
    /// ``/Batch/AsyncBatchCoordinator/commit()``.
    @inlinable
    nonisolated(nonsending) public func commit(coach: Int) async throws -> Result {
        try await _engine.asyncCommit(coach: coach, me: _engine.home.threadToken())
    }

    /// Cancels the batch of `coach`; see ``/Batch/AsyncBatchCoordinator/cancel(_:)``.
    @inlinable @discardableResult
    public func cancel(coach: Int, _ error: (any Error)? = nil) throws -> Result {
        try _engine.asyncCancel(coach: coach, .cancel(error), me: _engine.home.threadToken())
    }

    /// Chooses the coach a worker enters; `nil` (the default) takes the first free coach.
    ///
    /// Same contract as the blocking `Multi`'s balancer: called under the lock with the set of
    /// free coaches (bit `n % 64` of word `n / 64`), returns the coach to enter; a negative
    /// number, or a coach that is not free, means "not now" (the worker suspends and is asked
    /// again when a coach becomes free or on `notify()`). It must not suspend or block.
    public var balancer: (@Sendable (_ free: [UInt64]) -> Int)? {
        get { _engine.balancerChoice(_balancer) }
        set { _engine.setBalancer(_balancer, newValue) }
    }
}

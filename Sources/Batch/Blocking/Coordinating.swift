/// Not API: what ``Coordinator``, ``Multi`` and their shared-memory twins have in common — an
/// engine over a home, and for `Multi` a balancer. The safe API (``BatchTicket``,
/// ``BatchSection``, `batch(blocking:_:)`) is written once against it.
public protocol _BatchCoordinating<Result>: AnyObject, Sendable {
    /// What every worker of a committed batch gets.
    associatedtype Result: Sendable
    associatedtype _Home: _BlockingHome where _Home.Result == Result
    /// The algorithm over this coordinator's home.
    var _engine: _BatchEngine<_Home> { get }
    /// The balancer, or `nil` for a single coach.
    var _balancer: _Balancer? { get }
}

/// A coordinator of one batch at a time: ``Coordinator`` in process, `SharedCoordinator` across
/// processes. Every method here is the same for both.
///
/// The order of calls for one worker is
/// `queueIn()` → prepare → `enter()` → add to the shared state → `commit()` or `cancel()`
/// (or neither: leave) → `exit()`. Prefer the safe form, `batch { section in … }`.
public protocol BatchCoordinator<Result>: _BatchCoordinating {}

/// A coordinator of several batches in flight ("coaches"): ``Multi`` in process, `SharedMulti`
/// across processes.
public protocol MultiBatchCoordinator<Result>: _BatchCoordinating {}

// MARK: - Queue: shared by both shapes.

extension _BatchCoordinating {
    /// Announces a worker: committers wait for announced workers before committing.
    ///
    /// Lock free. Call it as early as possible, before preparing the data, then `enter()`. A
    /// worker counts as coming until it enters, even while it waits for a committing batch.
    /// - Returns: the number of announced workers after this one joined.
    @inlinable @discardableResult
    public func queueIn() -> Int {
        _engine.checkOutsideSection(_Misuse.queueInInside)
        return _engine.queueIn()
    }

    /// Takes back an announcement: the worker will not enter after all. Call ``notify()`` next,
    /// so that waiting committers re-check the queue.
    /// - Returns: the number of announced workers after this one left.
    @inlinable @discardableResult
    public func queueOut() -> Int { _engine.queueOut() }

    /// The number of announced workers that have not entered (or left) yet.
    @inlinable
    public var queueLength: Int { _engine.home.queueLength }

    /// Wakes the workers that wait in `commit()`, so that they re-check whether they should
    /// commit, and the workers waiting to enter, so that a balancer is asked again. Call it after
    /// ``queueOut()``, or after changing what a balancer decides. Must not be called inside the
    /// critical section.
    @inlinable
    public func notify() {
        _engine.checkOutsideSection(_Misuse.notifyInside)
        _engine.notify()
    }
}

// MARK: - Coordinator: one coach.

extension BatchCoordinator {
    /// Enters the batch: takes the critical section and stops counting as coming.
    ///
    /// Blocks while the batch is committing (the worker still counts as coming meanwhile). Call
    /// `queueIn()` first and ``exit()`` after, always (use `defer`).
    /// - Parameter blocking: `false` to return -1 instead of waiting; the worker then no longer
    ///   counts as coming and must not call `exit()`.
    /// - Returns: the worker's index in the batch (0: reset the shared state first), or -1 —
    ///   also when the worker cannot enter at all (a shared segment found corrupt, or no
    ///   participant slot for the thread: the safe API throws why).
    @inlinable
    public func enter(blocking: Bool = true) -> Int {
        (try? _engine.enter(blocking: blocking, balancer: nil))?.index ?? -1
    }

    /// Leaves the batch and the critical section. Call it exactly once after every successful
    /// ``enter(blocking:)``, whether or not the worker committed.
    /// - Returns: how many workers of the batch have not exited yet.
    @inlinable @discardableResult
    public func exit() -> Int { _engine.exit(coach: 0) }

    /// Asks for the batch to be committed as soon as possible: workers already in it are
    /// committed with it; workers that have not entered go to the next batch.
    @inlinable
    public func trigger() { _engine.trigger(coach: 0) }

    /// Commits the batch, or waits for the worker that commits it.
    ///
    /// The last worker in (the queue is empty, or the batch was triggered) runs the commit
    /// function once, without the lock; everyone else waits. Every worker gets the same result,
    /// or the same error.
    /// - Throws: the commit function's error, the error of a ``cancel(_:)``,
    ///   ``/Batch/BatchError/workerFailed(_:)`` and, across processes, the crash errors of
    ///   ``/Batch/BatchError``.
    @inlinable
    public func commit() throws -> Result { try _engine.commit(coach: 0) }

    /// Cancels the batch without committing it: every worker of the batch gets `error`
    /// (``/Batch/BatchError/canceled`` when `nil`). Workers that have not entered go to the next
    /// batch.
    /// - Throws: always; that error.
    @inlinable @discardableResult
    public func cancel(_ error: (any Error)? = nil) throws -> Result {
        try _engine.cancel(coach: 0, .cancel(error))
    }
}

// MARK: - Multi: several coaches.

extension MultiBatchCoordinator {
    /// The number of coaches (batches that may be in flight at once).
    @inlinable
    public var coaches: Int { _engine.coachCount }

    /// Chooses the coach a worker enters; `nil` (the default) takes the first free coach.
    ///
    /// It is called under the lock with the set of free coaches — bit `n % 64` of word `n / 64`
    /// is set when coach `n` accepts workers — and returns the coach to enter. A negative number,
    /// or a coach that is not free, means "not now": the worker waits (or, non-blocking, gets
    /// busy) and is asked again when a coach becomes free, when the balancer is set, or on
    /// `notify()` (call it when what the balancer decides on changes). While it waits like that it does not
    /// count as coming, so it never holds up the batches that are filling. The set is valid only
    /// during the call. Do not set it from inside the critical section.
    public var balancer: (@Sendable (_ free: [UInt64]) -> Int)? {
        get { _engine.balancerChoice(_balancer) }
        set {
            _engine.checkOutsideSection(_Misuse.balancerInside)
            _engine.setBalancer(_balancer, newValue)
        }
    }

    /// Enters a free coach: the first one, or the balancer's choice.
    ///
    /// Blocks while no coach accepts workers (all are committing) or the balancer refuses.
    /// - Parameter blocking: `false` to return `(-1, -1)` instead of waiting; the worker then no
    ///   longer counts as coming and must not call `exit(coach:)`.
    /// - Returns: the coach and the worker's index in it (0: reset that coach's state first), or
    ///   `(-1, -1)` — also when the worker cannot enter at all (see ``/Batch/BatchCoordinator/enter(blocking:)``).
    @inlinable
    public func enter(blocking: Bool = true) -> (coach: Int, index: Int) {
        (try? _engine.enter(blocking: blocking, balancer: _balancer)) ?? (-1, -1)
    }

    /// Leaves `coach`, entered with ``enter(blocking:)``. Call it exactly once per enter.
    /// - Returns: how many workers of that batch have not exited yet.
    @inlinable @discardableResult
    public func exit(coach: Int) -> Int { _engine.exit(coach: coach) }

    /// Asks for the batch of `coach` to be committed as soon as possible.
    @inlinable
    public func trigger(coach: Int) { _engine.trigger(coach: coach) }

    /// Commits the batch of `coach`, or waits for its committer; see
    /// ``/Batch/BatchCoordinator/commit()``.
    @inlinable
    public func commit(coach: Int) throws -> Result { try _engine.commit(coach: coach) }

    /// Cancels the batch of `coach`; see ``/Batch/BatchCoordinator/cancel(_:)``.
    @inlinable @discardableResult
    public func cancel(coach: Int, _ error: (any Error)? = nil) throws -> Result {
        try _engine.cancel(coach: coach, .cancel(error))
    }
}

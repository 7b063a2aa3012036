/// Not API: a home whose waiters are suspended tasks, not sleeping threads. The async driver
/// (`AsyncDriver.swift`) runs the engine's steps through ``drive(owned:cancellable:me:_:)``.
///
/// In such a home the critical section is a *logical* lock (an ownership flag and a queue of
/// suspended tasks), because a task may `await` inside it and resume on another thread. The real
/// mutex (``_WorkerHome/lock()``/``_WorkerHome/unlock()``) is held only for the microseconds a
/// step takes, never across an `await`. "Under the lock" for an engine step therefore means: the
/// caller owns the logical section *and* holds the mutex.
public protocol _AsyncBatchHome: _WorkerHome where Result: Sendable, Outcome: Sendable {
    /// Runs `step` under the mutex while the caller owns the logical section; acquires the
    /// section first unless `owned`. When the step says ``_SectionStep/wait(channel:deadline:cancellable:)``,
    /// the caller gives up the section and is suspended on that channel, atomically with the
    /// step; when it is woken (``_BatchState/wake(_:all:)``, or its deadline passed) it owns the
    /// section again and `step` runs again.
    ///
    /// - Parameter cancellable: whether task cancellation ends a wait for the section before the
    ///   step first ran (a wait on a channel says for itself).
    /// - Returns: ``_Driven/done(_:)`` with the value of the step that ended the drive (`.keep`:
    ///   the caller owns the section; `.release`: it does not); ``_Driven/cancelled`` when a
    ///   cancellable wait was cancelled (the caller does not own the section);
    ///   ``_Driven/released`` when the caller waited in commit and its batch's outcome was
    ///   published meanwhile: it does not own the section, reads the outcome with
    ///   ``releasedResult(coach:)`` and exits with ``takeReleasedExit(coach:)``.
    /// - Parameter me: the worker's token (``takeSeat(task:)``), whose wait a home may record.
    nonisolated(nonsending) func drive<T>(
        owned: Bool, cancellable: Bool, me: UInt64, _ step: () -> _SectionStep<T>
    ) async -> _Driven<T, Result>

    /// Not under the mutex: the token the task `task` (``_currentTask()``) takes part with from
    /// now until ``returnSeat(_:)`` — a participant seat of a home whose participants are
    /// counted (the shared-memory home), the task itself otherwise —, or `nil` when every seat
    /// is taken.
    func takeSeat(task: UInt64) throws(Failure) -> UInt64?

    /// Not under the mutex, by a task that got `nil` from ``takeSeat(task:)`` and no longer
    /// counts as coming: suspends until a seat is free and returns its token.
    /// - Throws: `CancellationError`; a home's error when no seat can ever come (a home whose
    ///   process holds none).
    nonisolated(nonsending) func waitForSeat(task: UInt64) async throws -> UInt64

    /// Not under the mutex: the worker `token` left (exited, was busy, or was cancelled before
    /// entering); its seat is free.
    func returnSeat(_ token: UInt64)

    /// Under the mutex, by the owner of the logical section: gives it up, to the first task
    /// waiting for it (resumed when the mutex is released) or to nobody. (A home whose section
    /// is the engine's holder field alone has nothing to do: the steps released it.)
    func giveUpSection()

    /// Not under the mutex nor the section: runs the async commit function of `coach`.
    nonisolated(nonsending) func runCommit(coach: Int) async -> Outcome

    /// Not under the mutex, by a task released from a published `coach` (``_Driven/released``):
    /// the outcome (it stays as published until the coach resets, which waits for this task's
    /// exit).
    func releasedResult(coach: Int) throws -> Result

    /// Under the mutex: whether a task released from `coach` (``_Driven/released``) has yet to
    /// exit, counting this one out. An exit by a task that holds no section and was not
    /// released is a misuse.
    func takeReleasedExit(coach: Int) -> Bool

    /// Not under the mutex: how many tasks of this process are suspended on `channel`, or wait
    /// for the section when `channel` is `nil`. For tests and diagnostics: the answer may be
    /// stale at once.
    func parkedCount(channel: Int?) -> Int

    /// Under the mutex: a worker of `coach` takes its outcome without the section — the
    /// committer, which published without taking the section back, or a waiter that found its
    /// batch published —; it exits like a released task.
    func markReleased(coach: Int)
}

/// Not API: what an engine step run by ``_AsyncBatchHome/drive(owned:cancellable:me:_:)`` asks for.
public enum _SectionStep<T> {
    /// Done; the caller keeps the logical section.
    case keep(T)
    /// Done; the caller gives up the logical section.
    case release(T)
    /// Give up the section, suspend on `channel`, and run the step again once woken or once the
    /// monotonic time `deadline` (ns, `Int64.max`: none) has passed. `cancellable`: task
    /// cancellation ends the wait (the drive returns ``_Driven/cancelled``). `exitsWhenReleased`:
    /// waiting in commit, the caller has nothing left to do in its batch once the outcome is out —
    /// the publisher counts its exit for it and hands it the outcome (``_Driven/exited(_:)``).
    case wait(channel: Int, deadline: Int64, cancellable: Bool, exitsWhenReleased: Bool = false)
}

/// Not API: the calling task's token — its address, unique among live tasks and never 0 — or 0
/// outside a task.
@inlinable
public func _currentTask() -> UInt64 {
    // The optional task reference read as its bits (nil: 0), without unwrapping it: unwrapping
    // copies the reference, a retain and a release (atomic operations) on every call.
    withUnsafeCurrentTask { task in UInt64(unsafeBitCast(task, to: UInt.self)) }
}

/// Not API: how a drive ended (`Value`: what the batch's workers get).
public enum _Driven<T, Value> {
    /// A step ended it with this value.
    case done(T)
    /// A cancellable wait was cancelled.
    case cancelled
    /// Waiting in commit, the caller's batch was published: it reads the outcome and exits
    /// without the section.
    case released
    /// Waiting in commit with `exitsWhenReleased`, the caller's batch was published and its exit
    /// counted: here is the outcome.
    case exited(Swift.Result<Value, any Error>)
    /// The home failed (its lock threw: a shared-memory segment found corrupt, or closed): the
    /// caller holds nothing, its wait is over.
    case failed(any Error)
}

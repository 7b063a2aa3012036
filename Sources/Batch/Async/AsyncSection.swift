/// The async safe API: a ticket for a task that announced itself, and a section token for a task
/// inside the batch. Both are non-copyable, like ``BatchTicket`` and ``BatchSection``, so the
/// compiler rejects committing twice, committing after cancelling, or entering twice.

extension _AsyncBatchCoordinating {
    /// Announces a worker (``queueIn()``) and returns its ticket.
    ///
    /// Prepare the data while holding the ticket (it may `await`), then
    /// ``/Batch/AsyncBatchTicket/enter(blocking:_:)``. A ticket dropped without entering leaves the
    /// queue and notifies the committers.
    @inlinable
    public func ticket() -> AsyncBatchTicket<Self> {
        _ = _engine.queueIn()
        return AsyncBatchTicket(owner: self)
    }

    /// Runs `body` inside the batch: announces the worker, enters (suspending while the batch
    /// commits), runs `body`, exits.
    ///
    /// `body` gets the worker's ``/Batch/AsyncBatchSection``: add to the shared state (reset it first
    /// when `section.isFirst`), then `try await section.commit()`, `section.cancel(_:)`, or return
    /// without either to leave. If `body` throws before committing, the batch is poisoned: the
    /// other workers get ``/Batch/BatchError/workerFailed(_:)`` and this call rethrows the error.
    ///
    /// Cancellation: if the task is cancelled before it enters, this throws `CancellationError`
    /// and `body` does not run; once `body` runs, the library itself never throws
    /// `CancellationError` — the worker gets its batch's outcome (see docs/ASYNC.md).
    /// - Parameters:
    ///   - blocking: `false` to throw ``/Batch/BatchError/busy`` instead of waiting while the
    ///     batch commits.
    ///   - body: the worker's part of the batch, inside the critical section; it may `await`.
    /// - Returns: what `body` returns.
    @inlinable
    nonisolated(nonsending) public func batch<T>(
        blocking: Bool = true, _ body: (_ section: consuming AsyncBatchSection<Self>) async throws -> T
    ) async throws -> T {
        try await ticket().enter(blocking: blocking, body)
    }
}

/// Not API: what became of an async section; written by ``AsyncBatchSection``, read by the
/// ticket that ran it. Touched only by the task that owns the section.
public final class _AsyncSectionFate: @unchecked Sendable {
    @usableFromInline var fate: _SectionFate = .inside
    @inlinable init() {}
}

/// A task that announced itself and has not entered yet. Non-copyable: it enters once.
public struct AsyncBatchTicket<Owner: _AsyncBatchCoordinating>: ~Copyable {
    @usableFromInline let owner: Owner
    /// Still counts as coming; cleared when it enters or leaves.
    @usableFromInline var open = true

    @inlinable
    init(owner: Owner) { self.owner = owner }

    /// Enters the batch, runs `body` with the section, and exits; see the coordinator's
    /// `batch(blocking:_:)`, such as ``AsyncCoordinator/batch(blocking:_:)``.
    /// - Throws: `CancellationError` if the task is (or gets) cancelled before it enters;
    ///   ``BatchError/busy`` when non-blocking and the batch is committing; otherwise what `body`
    ///   throws.
    @inlinable
    nonisolated(nonsending) public consuming func enter<T>(
        blocking: Bool = true, _ body: (_ section: consuming AsyncBatchSection<Owner>) async throws -> T
    ) async throws -> T {
        open = false
        let engine = owner._engine
        guard
            let (coach, index, me) = try await engine.asyncEnter(
                blocking: blocking, balancer: owner._balancer, task: _currentTask())
        else {
            throw BatchError.busy
        }
        let fate = _AsyncSectionFate()
        defer { _ = engine.asyncExit(coach: coach, me: me) }
        do {
            return try await body(AsyncBatchSection(owner: owner, coach: coach, index: index, me: me, fate: fate))
        } catch {
            // Poison only a batch this task has no outcome of yet (it may have called the
            // coordinator's own commit() or cancel() inside the closure).
            if fate.fate == .inside && engine.holderHasNoOutcome(me) {
                _ = try? engine.asyncCancel(coach: coach, .workerFailed(error), me: me)
            }
            throw error
        }
    }

    /// Gives up before entering: leaves the queue and notifies the committers.
    @inlinable
    public consuming func leave() {
        open = false
        owner._engine.leaveBeforeEntering()
    }

    @inlinable
    deinit {
        if open { owner._engine.leaveBeforeEntering() }
    }
}

/// A task inside a batch: it owns the critical section and may change the shared state.
///
/// Non-copyable: `commit()` and `cancel(_:)` consume it, so a second outcome does not compile.
/// It is only valid inside the closure it was given to, and only in that closure's task.
public struct AsyncBatchSection<Owner: _AsyncBatchCoordinating>: ~Copyable {
    @usableFromInline let owner: Owner
    /// The coach entered (always 0 for a single-coach coordinator).
    public let coach: Int
    /// The worker's position in the batch; 0 means "first: reset the shared state".
    public let index: Int
    /// The owning task's token, computed once at enter.
    @usableFromInline let me: UInt64
    @usableFromInline let fate: _AsyncSectionFate

    @inlinable
    init(owner: Owner, coach: Int, index: Int, me: UInt64, fate: _AsyncSectionFate) {
        self.owner = owner
        self.coach = coach
        self.index = index
        self.me = me
        self.fate = fate
    }

    /// Whether this worker is the first of its batch and must reset the shared state.
    @inlinable
    public var isFirst: Bool { index == 0 }

    /// Commit as soon as possible; workers not yet entered go to the next batch.
    @inlinable
    public func trigger() { owner._engine.asyncTrigger(coach: coach, me: me) }

    /// Commits the batch, or suspends until its committer published the outcome; every worker of
    /// the batch gets the same result or error. Not cancellable: a cancelled task still gets the
    /// batch's outcome. See ``AsyncBatchCoordinator/commit()``.
    @inlinable
    nonisolated(nonsending) public consuming func commit() async throws -> Owner.Result {
        fate.fate = .decided
        return try await owner._engine.asyncCommit(coach: coach, me: me)
    }

    /// Cancels the batch; every worker of it gets `error` (``BatchError/canceled`` when `nil`).
    /// - Throws: always; that error.
    @inlinable @discardableResult
    public consuming func cancel(_ error: (any Error)? = nil) throws -> Owner.Result {
        fate.fate = .decided
        return try owner._engine.asyncCancel(coach: coach, .cancel(error), me: me)
    }

    /// Leaves without an outcome: anything this worker added is committed with the others'
    /// commit. Returning from the closure without committing does the same. This is the clean
    /// way to honour a cancellation noticed inside the section, before changing the state.
    @inlinable
    public consuming func leave() {
        fate.fate = .left
    }
}

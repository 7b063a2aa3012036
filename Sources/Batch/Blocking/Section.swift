/// The safe API: a ticket for a worker that announced itself, and a section token for a worker
/// inside the batch. Both are non-copyable, so the compiler rejects committing twice, committing
/// after cancelling, or entering twice with one ticket; what the compiler cannot see traps with
/// a message that names the right order of calls.

extension _BatchCoordinating {
    /// Announces a worker (``queueIn()``) and returns its ticket.
    ///
    /// Prepare the data while holding the ticket, then ``/Batch/BatchTicket/enter(blocking:_:)``. A
    /// ticket dropped without entering leaves the queue and notifies the committers.
    @inlinable
    public func ticket() -> BatchTicket<Self> {
        _engine.checkOutsideSection(_Misuse.ticketInside)
        _ = _engine.queueIn()
        return BatchTicket(owner: self)
    }

    /// Runs `body` inside the batch: announces the worker, enters, runs `body`, exits.
    ///
    /// `body` gets the worker's ``/Batch/BatchSection``: add to the shared state (reset it first when
    /// `section.index == 0`), then `try section.commit()`, `section.cancel(_:)`, or return
    /// without either to leave. If `body` throws before committing, the batch is poisoned: the
    /// other workers get ``/Batch/BatchError/workerFailed(_:)`` and this call rethrows the error.
    /// - Parameters:
    ///   - blocking: `false` to throw ``/Batch/BatchError/busy`` instead of waiting while the
    ///     batch commits.
    ///   - body: the worker's part of the batch, inside the critical section.
    /// - Returns: what `body` returns.
    @inlinable
    public func batch<T>(
        blocking: Bool = true, _ body: (_ section: consuming BatchSection<Self>) throws -> T
    ) throws -> T {
        _ = _engine.queueIn()
        return try _enterAndRun(blocking: blocking, body)
    }

    /// The safe section, once: enter (the caller announced itself), run `body`, poison the batch
    /// if `body` throws before an outcome, exit. What became of the section (an outcome, left on
    /// purpose) is the engine's holder state, not memory of this frame: a section moved out of
    /// the closure can never write into it.
    @inlinable
    public func _enterAndRun<T>(
        blocking: Bool, _ body: (_ section: consuming BatchSection<Self>) throws -> T
    ) throws -> T {
        guard let (coach, index) = try _engine.enter(blocking: blocking, balancer: _balancer) else {
            throw BatchError.busy
        }
        defer { _ = _engine.exit(coach: coach) }
        do {
            return try body(BatchSection(owner: self, coach: coach, index: index))
        } catch {
            // Poison only a batch this worker has no outcome of yet and did not leave (it may
            // have called the coordinator's own commit() or cancel() inside the closure), and
            // only while it still holds the section (a failed home takes it away in commit).
            if _engine.holderHasNoOutcome(_engine.home.threadToken()) {
                _ = try? _engine.cancel(coach: coach, .workerFailed(error))
            }
            throw error
        }
    }
}

/// What became of an async section; written by ``AsyncBatchSection``, read by the ticket that
/// ran it. (A blocking section keeps it in the engine's holder state.)
public enum _SectionFate: Sendable {
    /// Inside, no outcome yet: throwing now poisons the batch.
    case inside
    /// Committed or cancelled: the worker has the batch's outcome.
    case decided
    /// Left on purpose without an outcome.
    case left
}

/// A worker that announced itself and has not entered yet. Non-copyable: it enters once.
public struct BatchTicket<Owner: _BatchCoordinating>: ~Copyable {
    @usableFromInline let owner: Owner
    /// Still counts as coming; cleared when it enters or leaves.
    @usableFromInline var open = true

    @inlinable
    init(owner: Owner) { self.owner = owner }

    /// Enters the batch, runs `body` with the section, and exits; see the coordinator's
    /// `batch(blocking:_:)`, such as ``Coordinator/batch(blocking:_:)``.
    @inlinable
    public consuming func enter<T>(
        blocking: Bool = true, _ body: (_ section: consuming BatchSection<Owner>) throws -> T
    ) throws -> T {
        open = false
        return try owner._enterAndRun(blocking: blocking, body)
    }

    /// Gives up before entering: leaves the queue and notifies the committers.
    @inlinable
    public consuming func leave() {
        open = false
        owner._engine.checkOutsideSection(_Misuse.notifyInside)
        owner._engine.leaveBeforeEntering()
    }

    @inlinable
    deinit {
        if open {
            owner._engine.checkOutsideSection(_Misuse.notifyInside)
            owner._engine.leaveBeforeEntering()
        }
    }
}

/// A worker inside a batch: the critical section is held, the shared state may be changed.
///
/// Non-copyable: `commit()` and `cancel(_:)` consume it, so a second outcome does not compile.
/// It is only valid inside the closure it was given to: every call checks that the calling
/// thread still holds that section and traps with a message otherwise (Swift 6.3 cannot yet
/// forbid the move out of the closure: non-escapable types need an experimental feature).
public struct BatchSection<Owner: _BatchCoordinating>: ~Copyable {
    /// Unretained: a section lives only inside `_enterAndRun`, whose caller holds the owner
    /// strongly; not retaining it — neither when the section is made nor on each use, which
    /// `unowned(unsafe)` still does — keeps atomic operations off every batch. (A section moved
    /// out of its closure must not outlive its coordinator either.)
    @usableFromInline let unretainedOwner: Unmanaged<Owner>
    /// The coach entered (always 0 for a single-coach coordinator).
    public let coach: Int
    /// The worker's position in the batch; 0 means "first: reset the shared state".
    public let index: Int

    @inlinable
    init(owner: Owner, coach: Int, index: Int) {
        unretainedOwner = .passUnretained(owner)
        self.coach = coach
        self.index = index
    }

    /// Whether this worker is the first of its batch and must reset the shared state.
    @inlinable
    public var isFirst: Bool { index == 0 }

    /// The owner's engine, borrowed for `body` without a retain.
    @inlinable
    func withEngine<R>(_ body: (borrowing _BatchEngine<Owner._Home>) throws -> R) rethrows -> R {
        try unretainedOwner._withUnsafeGuaranteedRef { try body($0._engine) }
    }

    /// Commit as soon as possible; workers not yet entered go to the next batch.
    @inlinable
    public func trigger() { withEngine { $0.trigger(coach: coach) } }

    /// Commits the batch, or waits for its committer; every worker of the batch gets the same
    /// result or error. See ``BatchCoordinator/commit()``.
    @inlinable
    public consuming func commit() throws -> Owner.Result {
        try withEngine { try $0.commit(coach: coach) }
    }

    /// Cancels the batch; every worker of it gets `error` (``BatchError/canceled`` when `nil`).
    /// - Throws: always; that error.
    @inlinable @discardableResult
    public consuming func cancel(_ error: (any Error)? = nil) throws -> Owner.Result {
        try withEngine { try $0.cancel(coach: coach, .cancel(error)) }
    }

    /// Leaves without an outcome: anything this worker added is committed with the others'
    /// commit. Returning from the closure without committing does the same.
    @inlinable
    public consuming func leave() {
        withEngine { $0.leaveSectionStep($0.home.threadToken(), coach: coach) }
    }
}

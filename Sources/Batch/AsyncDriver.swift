import CShmSync

/// The async driver: the same engine steps as the blocking driver (`Engine.swift`), run through
/// ``_AsyncBatchHome/drive(owned:cancellable:_:)`` so that a worker that must wait suspends (a
/// continuation parked on the channel) instead of blocking a thread.
///
/// Ownership of the critical section: a task owns the home's logical section from the return of
/// ``asyncEnter(blocking:balancer:)`` to ``asyncExit(coach:)``, except while it is suspended in
/// ``asyncCommit(coach:)`` (waiting for the committer) or runs the commit function. `core.holder`
/// names the owning task (``_BatchHome/threadToken()`` is a task token in an async home) so that
/// the blocking driver's misuse checks apply unchanged.
///
/// Cancellation (documented for users in docs/ASYNC.md):
/// - before entering (queued, waiting for the section, or waiting to enter while a batch
///   commits): the wait ends, the worker leaves the queue (``queueOut()`` + ``notify()``, the
///   engine's own "leave before entering" path) and gets `CancellationError`;
/// - once entered: no wait is cancellable any more. The worker's data is (or may be) in the
///   batch, so it waits for and gets the batch's outcome like every other worker, and the
///   commit function runs shielded from its cancellation when the batch holds other workers.
extension _BatchEngine where Home: _AsyncBatchHome {
    /// What an async enter ended with.
    @usableFromInline
    enum _AsyncEntered: Sendable {
        case entered(coach: Int, index: Int)
        case busy
        case cancelled
    }

    /// Enters a coach, suspending while none accepts workers (or the balancer refuses).
    ///
    /// - Returns: the coach and index, or `nil` when non-blocking and no coach can be entered.
    /// - Throws: `CancellationError` if the task is cancelled before it enters; it then no
    ///   longer counts as coming and the committers were told.
    @inlinable
    nonisolated(nonsending) public func asyncEnter(blocking: Bool, balancer: _Balancer?) async throws -> (
        coach: Int, index: Int
    )? {
        try await asyncEnter(blocking: blocking, balancer: balancer, me: home.threadToken())
    }

    /// ``asyncEnter(blocking:balancer:)`` for the task `me` (its ``_BatchHome/threadToken()``,
    /// computed once by the caller: reading the current task is not free).
    @inlinable
    nonisolated(nonsending) public func asyncEnter(
        blocking: Bool, balancer: _Balancer?, me: UInt64
    ) async throws -> (coach: Int, index: Int)? {
        precondition(me != 0, "the async API must be called from a task")
        precondition(
            cshm_atomic_load_u64(&core.pointee.holder) != me,
            "enter() called twice: call exit() before entering again")
        var queued = true
        let outcome = await home.drive(owned: false, cancellable: true) { () -> _SectionStep<_AsyncEntered> in
            if Task.isCancelled { return .release(.cancelled) }
            switch enterStep(blocking: blocking, queued: &queued, balancer: balancer) {
            case .entered(let c, let index):
                takeSection(me, coach: c, state: 1)
                home.note(.entered, coach: c)
                return .keep(.entered(coach: c, index: index))
            case .busy:
                home.note(.idle, coach: -1)
                return .release(.busy)
            case .wait:
                return .wait(channel: Self.enterChannel)
            }
        }
        switch outcome {
        case .entered(let c, let index)?:
            return (c, index)
        case .busy?:
            return nil
        case .cancelled?, nil:
            if queued {
                _ = queueOut()
                notify()
            }
            throw CancellationError()
        }
    }

    /// What one round of an async commit ended with.
    @usableFromInline
    enum _AsyncCommitted {
        case ready(Swift.Result<Home.Result, any Error>)
        case commit(workers: Int)
    }

    /// Commits the caller's batch, or suspends until its committer published the outcome; every
    /// worker of the batch gets the same outcome. Not cancellable (see the type's notes).
    @inlinable
    nonisolated(nonsending) public func asyncCommit(coach c: Int) async throws -> Home.Result {
        try await asyncCommit(coach: c, me: home.threadToken())
    }

    /// ``asyncCommit(coach:)`` for the task `me`, the token it entered with.
    @inlinable
    nonisolated(nonsending) public func asyncCommit(coach c: Int, me: UInt64) async throws -> Home.Result {
        checkHolder(me, coach: c, "commit() outside the batch: the order is queueIn(), enter(), commit(), exit()")
        precondition(
            core.pointee.holder_state == 1,
            "commit() or cancel() called twice: each worker gets one outcome per batch; call exit() next")
        var owned = true
        var outcome: Home.Outcome? = nil
        while true {
            let next = await home.drive(owned: owned, cancellable: false) { () -> _SectionStep<_AsyncCommitted> in
                takeSection(me, coach: c, state: 1)
                if let published = outcome.take() { publish(published, coach: c) }
                switch commitStep(coach: c) {
                case .ready:
                    core.pointee.holder_state = 2
                    home.note(.done, coach: c)
                    return .keep(.ready(Swift.Result { try home.result(coach: c) }))
                case .wait:
                    home.note(.waiting, coach: c)
                    releaseSection()
                    return .wait(channel: Self.commitChannel(c))
                case .commit:
                    home.note(.committing, coach: c)
                    releaseSection()
                    return .release(.commit(workers: Int(-coach(c).pointee.count)))
                }
            }
            switch next {
            case .ready(let result)?:
                return try result.get()
            case .commit(let workers)?:
                if workers > 1 {
                    // Other workers depend on this commit: the committer's cancellation must not
                    // reach the commit function. An unstructured task inherits priority and
                    // task-locals but not cancellation.
                    let home = self.home
                    outcome = await Task { await home.runCommit(coach: c) }.value
                } else {
                    outcome = await home.runCommit(coach: c)
                }
                owned = false  // re-take the section to publish, like the blocking re-lock
            case nil:
                preconditionFailure("a non-cancellable wait was cancelled")
            }
        }
    }

    /// Cancels the caller's batch with `error`; every worker of it gets the error. Does not
    /// suspend: the caller owns the section.
    @inlinable
    public func asyncCancel(coach c: Int, error: (any Error)?) throws -> Home.Result {
        home.lock()
        defer { home.unlock() }
        return try cancel(coach: c, error: error)
    }

    /// Sets `triggered` on the caller's coach. Does not suspend.
    @inlinable
    public func asyncTrigger(coach c: Int) {
        home.lock()
        defer { home.unlock() }
        trigger(coach: c)
    }

    /// Leaves the batch and gives up the critical section. Does not suspend, so it can run in a
    /// `defer`.
    @inlinable
    public func asyncExit(coach c: Int) -> Int {
        asyncExit(coach: c, me: home.threadToken())
    }

    /// ``asyncExit(coach:)`` for the task `me`, the token it entered with.
    @inlinable
    public func asyncExit(coach c: Int, me: UInt64) -> Int {
        home.lock()
        checkHolder(me, coach: c, "exit() without enter(): call enter() first, and exit() once")
        let left = exitStep(coach: c)
        core.pointee.holder_state = 0
        home.note(.idle, coach: c)
        releaseSection()
        home.giveUpSection()
        home.unlock()
        return left
    }
}

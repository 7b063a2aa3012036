import CBatchCore

/// The async driver: the same engine steps as the blocking driver (`Engine/Steps.swift`), run through
/// ``_AsyncBatchHome/drive(owned:cancellable:me:_:)`` so that a worker that must wait suspends (a
/// continuation parked on the channel) instead of blocking a thread.
///
/// Ownership of the critical section: a task owns the home's logical section from the return of
/// ``asyncEnter(blocking:balancer:)`` to ``asyncExit(coach:)``, except while it is suspended in
/// ``asyncCommit(coach:)`` (waiting for the committer) or runs the commit function. `core.holder`
/// names the owning task (``_WorkerHome/threadToken()`` is a task token in an async home) so that
/// the holder bookkeeping and misuse checks (`Engine/HolderState.swift`) apply unchanged.
///
/// Cancellation (documented for users in docs/ASYNC.md):
/// - before entering (queued, waiting for the section, or waiting to enter while a batch
///   commits): the wait ends, the worker leaves the queue (``leaveBeforeEntering()``, the
///   engine's own path) and gets `CancellationError`;
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

    /// Enters a coach for the task `task` (``_currentTask()``, computed once by the caller:
    /// reading the current task is not free), suspending while no coach accepts workers (or the
    /// balancer refuses) or another worker holds the section.
    ///
    /// - Returns: the coach, the index, and the token the task takes part with until its exit
    ///   (``_AsyncBatchHome/takeSeat(task:)``); `nil` when non-blocking and no coach can be
    ///   entered.
    /// - Throws: `CancellationError` if the task is cancelled before it enters (it then no
    ///   longer counts as coming and the committers were told), or the home's error when it can
    ///   never get a seat.
    @inlinable
    nonisolated(nonsending) public func asyncEnter(
        blocking: Bool, balancer: _Balancer?, task: UInt64
    ) async throws -> (coach: Int, index: Int, me: UInt64)? {
        precondition(task != 0, _Misuse.asyncOutsideTask.description)
        let me = try await takeSeat(task: task)
        do {
            try checkNotHolder(me, _Misuse.enterTwice)
        } catch {
            leaveAfterFailure()
            home.returnSeat(me)
            throw error
        }
        var queued = true
        var waitedForSection = false
        let outcome = await home.drive(owned: false, cancellable: true, me: me) {
            () -> _SectionStep<_AsyncEntered> in
            if Task.isCancelled {
                if waitedForSection { passOnSection() }
                return .release(.cancelled)
            }
            if sectionHeldByOther(me) {
                waitedForSection = true
                return .wait(channel: sectionChannel, deadline: .max, cancellable: true)
            }
            switch enterStep(blocking: blocking, queued: &queued, balancer: balancer, yieldCap: Self.taskYieldCap) {
            case .entered(let c, let index):
                takeSection(me, coach: c, state: .inside, keepsLock: false)
                home.note(.entered, coach: c, token: me)
                return .keep(.entered(coach: c, index: index))
            case .busy:
                if waitedForSection { passOnSection() }
                home.note(.idle, coach: -1, token: me)
                return .release(.busy)
            case .wait(let plan):
                if waitedForSection { passOnSection() }
                waitedForSection = false
                return .wait(channel: plan.channel, deadline: .max, cancellable: true)
            }
        }
        switch outcome {
        case .done(.entered(let c, let index)):
            return (c, index, me)
        case .done(.busy):
            home.returnSeat(me)
            return nil
        case .done(.cancelled), .cancelled, .released, .exited:
            if queued { leaveBeforeEntering() }
            home.returnSeat(me)
            throw CancellationError()
        case .failed(let error):
            if queued { leaveAfterFailure() }
            home.returnSeat(me)
            throw error
        }
    }

    /// The seat of the task `task`: at once when one is free; otherwise the task stops counting
    /// as coming while it waits for one (the committers would wait for it while the seats it
    /// needs are held by their own batches), and counts again once it has one.
    @inlinable
    nonisolated(nonsending) public func takeSeat(task: UInt64) async throws -> UInt64 {
        let seat: UInt64?
        do {
            seat = try home.takeSeat(task: task)
        } catch {
            leaveAfterFailure()
            throw error
        }
        if let me = seat { return me }
        leaveBeforeEntering()
        let me = try await home.waitForSeat(task: task)
        _ = home.queueIn()
        return me
    }

    /// What one round of an async commit ended with.
    @usableFromInline
    enum _AsyncCommitted {
        case ready(Swift.Result<Home.Result, any Error>)
        case commit(workers: Int, measure: Bool, inPlace: Bool)
    }

    /// Commits the caller's batch (the task `me`, the token it entered with), or suspends until
    /// its committer published the outcome; every worker of the batch gets the same outcome. Not
    /// cancellable (see the type's notes).
    @inlinable
    nonisolated(nonsending) public func asyncCommit(coach c: Int, me: UInt64) async throws -> Home.Result {
        try checkHolder(me, coach: c, outcomeKeepsSection: false, _Misuse.asyncCommitOutsideOrAgain)
        try checkNoOutcome(me, coach: c, _Misuse.secondOutcome)
        var patience = _Patience()
        var waitedForSection = false
        let next = await home.drive(owned: true, cancellable: false, me: me) {
            () -> _SectionStep<_AsyncCommitted> in
            if holder != me && isPublished(c) {
                // Woken after its batch was published: it takes the outcome and exits
                // without the section.
                if waitedForSection { passOnSection() }
                home.markReleased(coach: c)
                home.note(.done, coach: c, token: me)
                return .release(.ready(Swift.Result { try home.result(coach: c) }))
            }
            if sectionHeldByOther(me) {
                waitedForSection = true
                return .wait(channel: sectionChannel, deadline: .max, cancellable: false)
            }
            waitedForSection = false
            takeSection(me, coach: c, state: .inside, keepsLock: false)
            switch commitStep(coach: c, patience: &patience, yieldCap: Self.taskYieldCap, canCommitInPlace: true) {
            case .ready:
                return .keep(.ready(takeOutcome(me, coach: c)))
            case .wait(let plan):
                releaseSection()
                home.note(.waiting, coach: c, token: me)
                return .wait(channel: plan.channel, deadline: plan.deadline, cancellable: false)
            case .commit(let measure, let inPlace):
                if inPlace {
                    // Cheaper than handing the section over: keep it through the commit (the
                    // mutex is released; nobody could enter the closed batch anyway).
                    home.note(.committing, coach: c, token: me)
                    return .keep(.commit(workers: workersInside(c), measure: measure, inPlace: true))
                }
                releaseSection()
                home.note(.committing, coach: c, token: me)
                return .release(.commit(workers: workersInside(c), measure: measure, inPlace: false))
            }
        }
        switch next {
        case .done(.ready(let result)):
            return try result.get()
        case .released:
            // The batch was published while this task waited: no section, no step.
            return try home.releasedResult(coach: c)
        case .exited:
            preconditionFailure("a worker of the safe API exits by itself")
        case .done(.commit(let workers, let measure, let inPlace)):
            let (outcome, took) = await runCommit(coach: c, workers: workers, measure: measure)
            // Publishing needs the mutex, not the section: like every worker of a published
            // batch, the committer reads the outcome and exits without it.
            try home.lock()
            publish(consume outcome, coach: c, took: took)
            let result = Swift.Result { try home.result(coach: c) }
            if inPlace {
                holderState = .decided  // it kept the section: it exits with it
            } else {
                home.markReleased(coach: c)
            }
            home.note(.done, coach: c, token: me)
            home.unlock()
            return try result.get()
        case .cancelled:
            preconditionFailure("a non-cancellable wait was cancelled")
        case .failed(let error):
            throw error
        }
    }

    /// Runs the commit function of `coach`, whose batch holds `workers` workers, and times it
    /// when `measure` (-1 otherwise). When other workers depend on the commit, it runs in an
    /// unstructured task, so that the committer's cancellation does not reach it (such a task
    /// inherits priority and task-locals, not cancellation) — and it is timed inside that task:
    /// the hop to the task waits behind every runnable task of the pool, and a commit timed
    /// with it looked expensive enough to wait for announced workers, which made the next
    /// batches bigger and the hops longer (measured: 256 tasks with no commit at all made
    /// batches of 180).
    @inlinable @inline(__always)
    nonisolated(nonsending) public func runCommit(coach c: Int, workers: Int, measure: Bool) async -> (
        outcome: Home.Outcome, took: Int64
    ) {
        if workers <= 1 {
            let start = measure ? cbatch_now_ns() : 0
            let outcome = await home.runCommit(coach: c)
            return (outcome, measure ? cbatch_now_ns() &- start : -1)
        }
        let home = self.home
        return await Task {
            let start = measure ? cbatch_now_ns() : 0
            let outcome = await home.runCommit(coach: c)
            return (outcome, measure ? cbatch_now_ns() &- start : -1)
        }.value
    }

    /// Cancels the caller's batch; every worker of it gets the closing's error. Does not suspend:
    /// the caller owns the section.
    @inlinable
    public func asyncCancel(coach c: Int, _ closing: _Closing, me: UInt64) throws -> Home.Result {
        try checkHolder(me, coach: c, outcomeKeepsSection: false, _Misuse.asyncCancelOutsideOrAgain)
        try checkNoOutcome(me, coach: c, _Misuse.cancelAfterOutcome)
        try home.lock()
        defer { home.unlock() }
        return try cancelStep(me, coach: c, closing)
    }

    /// Sets `triggered` on the caller's coach. Does not suspend.
    @inlinable
    public func asyncTrigger(coach c: Int, me: UInt64) {
        do throws(Home.Failure) {
            try checkHolder(me, coach: c, outcomeKeepsSection: false, _Misuse.triggerOutside)
            try home.lock()
        } catch {
            return  // a failed home: nothing to trigger
        }
        defer { home.unlock() }
        triggerStep(coach: c)
    }

    /// Leaves the batch, for the task `me`, the token it entered with, and gives up the critical
    /// section when it holds it (a task released from its published batch holds none). Does not
    /// suspend, so it can run in a `defer`.
    @inlinable
    public func asyncExit(coach c: Int, me: UInt64) -> Int {
        do {
            try home.lock()
        } catch {
            home.returnSeat(me)
            return 0  // a failed home: nothing to leave
        }
        let left: Int
        if fieldsName(me, coach: c) {
            left = exitSectionStep(me, coach: c)
            home.giveUpSection()
        } else if holder != me && c >= 0 && c < coachCount && home.takeReleasedExit(coach: c) {
            // Released from its published batch (a waiter, or the committer): no section to give up.
            left = exitStep(coach: c)
            home.note(.idle, coach: c, token: me)
        } else {
            // A misuse (traps) — or the holder fields are false, and it leaves its batch as a
            // worker that failed (which takes the lock again).
            home.unlock()
            _ = sectionFieldsFalse(
                me, coach: c, claim: .holds(outcomeKeepsSection: true), misuse: _Misuse.exitWithoutEnter,
                wrongCoach: _Misuse.wrongCoach)
            home.returnSeat(me)
            return 0
        }
        home.unlock()
        home.returnSeat(me)
        return left
    }
}

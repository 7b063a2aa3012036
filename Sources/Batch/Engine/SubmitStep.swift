import CBatchCore

/// The batchers' step: "submit one item, get the batch's result" (``AsyncBatcher``, and
/// BatchIPC's `SharedBatcher` and `AsyncSharedBatcher`). One step under the lock enters a coach,
/// adds the item and decides whether to commit or wait; the submitter never holds the critical
/// section between steps, so the library, which owns the batch's state, can fill the next batch
/// while the current one commits (a pipeline of coaches with serial commits).

/// Not API: where a submission stands between its steps.
public struct _Submission: Sendable {
    /// Still counts as coming (announced, not entered).
    @usableFromInline var queued = true
    /// The coach its item is in, -1 before.
    public var coach = -1
    /// What it waited for announced workers or peers so far.
    @usableFromInline var patience = _Patience()
    /// It waited for the section (held by a worker of a coordinator sharing the home): if it
    /// does not take it, it passes the wake on.
    @usableFromInline var waitedForSection = false

    @inlinable public init() {}

    /// Whether it still counts as coming: a submission given up before its item was added must
    /// leave the queue.
    @inlinable public var isQueued: Bool { queued }
}

extension _BatchEngine where Home: _WorkerHome {
    /// What a submission does after a step.
    public enum SubmitStep {
        /// Wait as planned and take the step again. `cancellable`: the item is not in a batch
        /// yet, so the wait may end on the task's cancellation.
        case wait(_Wait, cancellable: Bool)
        /// The item's batch has its outcome, and the submitter left it.
        case done(Swift.Result<Home.Result, any Error>)
        /// The submitter closed the batch of `coach` (`workers` inside) and runs its commit
        /// function — timing it when `measure` —, then calls ``finishSubmission(_:coach:took:me:)``.
        case commit(coach: Int, workers: Int, measure: Bool)
        /// The submission was given up before its item was added (`cancelled` was true).
        case cancelled
    }

    /// Under the lock: one step of the submission `s` by the worker `me`.
    ///
    /// - Parameters:
    ///   - cancelled: the caller gives up, if its item is not in a batch yet.
    ///   - add: adds the item to the batch of `coach`, where it is at `index`, if it fits there,
    ///     and says whether it did. When it does not, that batch commits without it (it is
    ///     triggered) and the item goes to the next one: an item never poisons a batch it does
    ///     not fit. (A submitter that dies in the middle of the step leaves the batch as it was
    ///     before the step, the item perhaps added: its fate is unknown, as for any worker that
    ///     dies before its outcome.)
    @inlinable
    public func submitStep(
        _ s: inout _Submission, me: UInt64, maxBatchSize: Int?, cancelled: Bool, yieldCap: Int64,
        add: (_ coach: Int, _ index: Int) -> Bool
    ) -> SubmitStep {
        if s.coach < 0 {
            if cancelled {
                if s.waitedForSection { passOnSection() }
                return .cancelled
            }
            if sectionHeldByOther(me) {
                s.waitedForSection = true
                return .wait(waitForSection(cap: yieldCap), cancellable: true)
            }
            while s.coach < 0 {
                switch enterStep(blocking: true, queued: &s.queued, balancer: nil, yieldCap: yieldCap) {
                case .entered(let c, let index):
                    guard add(c, index) else {
                        // The batch has no room for the item: it commits without it; the item
                        // goes to the next batch, and its submitter counts as coming again.
                        setTriggered(c)
                        _ = exitStep(coach: c)
                        _ = home.queueIn()
                        s.queued = true
                        // Not even an empty batch took it (its home refused it): try again
                        // after a wait, not in a loop under the lock.
                        if index == 0 {
                            home.stateChanged()  // the coach emptied: no phase change follows
                            return .wait(waitToEnter(cap: yieldCap), cancellable: true)
                        }
                        continue
                    }
                    home.note(.entered, coach: c, token: me)
                    s.coach = c
                    if let maxBatchSize, index + 1 >= maxBatchSize { setTriggered(c) }
                case .wait(let plan):
                    if s.waitedForSection { passOnSection() }
                    s.waitedForSection = false
                    return .wait(plan, cancellable: true)
                case .busy:
                    preconditionFailure("a blocking enter reported busy")
                }
            }
            // A submitter never holds the section: the wake it got goes on.
            if s.waitedForSection { passOnSection() }
            s.waitedForSection = false
        }
        let c = s.coach
        switch commitStep(coach: c, patience: &s.patience, yieldCap: yieldCap, canCommitInPlace: false) {
        case .ready:
            let outcome = Swift.Result { try home.result(coach: c) }
            _ = exitStep(coach: c)
            home.note(.idle, coach: c, token: me)
            return .done(outcome)
        case .wait(let plan):
            home.note(.waiting, coach: c, token: me)
            return .wait(plan, cancellable: false)
        case .commit(let measure, _):
            home.note(.committing, coach: c, token: me)
            return .commit(coach: c, workers: workersInside(c), measure: measure)
        }
    }

    /// Under the lock, by the submitter that ran the commit function of `coach` (`took` ns, or
    /// -1 when not timed): publishes the outcome and leaves the batch; returns what every
    /// submitter of the batch gets.
    @inlinable
    public func finishSubmission(_ outcome: consuming Home.Outcome, coach c: Int, took: Int64, me: UInt64)
        -> Swift.Result<Home.Result, any Error>
    {
        publish(consume outcome, coach: c, took: took)
        let result = Swift.Result { try home.result(coach: c) }
        _ = exitStep(coach: c)
        home.note(.idle, coach: c, token: me)
        return result
    }
}

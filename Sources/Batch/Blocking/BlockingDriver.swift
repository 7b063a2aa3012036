import CBatchCore

/// The blocking driver: loops over the engine's steps (`Engine/Steps.swift`) under the home's
/// lock, sleeping with ``_BlockingHome/wait(_:)`` when a step says so. The critical section is
/// the home's lock itself: held from `enter` to `exit`, released while the worker sleeps in
/// `commit` and while the committer runs the commit function.
extension _BatchEngine where Home: _BlockingHome {
    /// Blocking (or not) enter; `nil` when non-blocking and no coach can be entered now. Throws
    /// the home's failure (the caller then no longer counts as coming).
    @inlinable
    public func enter(blocking: Bool, balancer: _Balancer?) throws(Home.Failure) -> (coach: Int, index: Int)? {
        var queued = true
        do throws(Home.Failure) {
            let me = try home.workerToken()
            checkNotHolder(me, _Misuse.enterTwice)
            try home.lock()
            while true {
                switch enterStep(blocking: blocking, queued: &queued, balancer: balancer) {
                case .entered(let c, let index):
                    takeSection(me, coach: c, state: .inside)
                    home.note(.entered, coach: c, token: me)
                    return (c, index)
                case .busy:
                    home.note(.idle, coach: -1)
                    home.unlock()
                    return nil
                case .wait:
                    try home.wait(Self.enterChannel)
                }
            }
        } catch {
            if queued {
                _ = home.queueOut()
                notify()
            }
            throw error
        }
    }

    /// Sets `triggered` on the caller's coach: commit as soon as possible.
    @inlinable
    public func trigger(coach c: Int) { triggerStep(home.threadToken(), coach: c) }

    /// Commit (or wait for the batch's committer); every worker gets the same outcome.
    @inlinable
    public func commit(coach c: Int) throws -> Home.Result {
        let me = home.threadToken()
        checkHolder(me, coach: c, _Misuse.commitOutside)
        checkNoOutcome(_Misuse.secondOutcome)
        while true {
            switch commitStep(coach: c) {
            case .ready:
                holderState = .decided
                home.note(.done, coach: c, token: me)
                return try home.result(coach: c)
            case .wait:
                home.note(.waiting, coach: c, token: me)
                releaseSection()
                try home.wait(Self.commitChannel(c))
                takeSection(me, coach: c, state: .inside)
            case .commit:
                home.note(.committing, coach: c, token: me)
                releaseSection()
                home.unlock()
                let outcome = home.runCommit(coach: c)
                try home.lock()
                takeSection(me, coach: c, state: .inside)
                publish(outcome, coach: c)
            }
        }
    }

    /// Close the caller's batch without committing; every worker of the batch gets the
    /// closing's error.
    @inlinable
    public func cancel(coach c: Int, _ closing: _Closing) throws -> Home.Result {
        try cancelStep(home.threadToken(), coach: c, closing)
    }

    /// Leave the batch and release the critical section. A worker whose `commit` threw the
    /// home's failure no longer holds the lock: its exit does nothing.
    @inlinable
    public func exit(coach c: Int) -> Int {
        let me = home.threadToken()
        if holder != me && home.failed { return 0 }
        let left = exitSectionStep(me, coach: c)
        home.unlock()
        return left
    }
}

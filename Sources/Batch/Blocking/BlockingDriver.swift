import CBatchCore

/// The blocking driver: loops over the engine's steps (`Engine/Steps.swift`) under the home's
/// lock, sleeping with ``_BlockingHome/wait(_:)`` when a step says so. Where the critical
/// section is the home's lock (``_BlockingHome/sectionIsTheLock``) a worker holds the lock from
/// `enter` to `exit`, releasing it while it sleeps in `commit` and while it runs the commit
/// function; elsewhere it holds the section in the engine's holder fields and the lock for one
/// step at a time.
///
/// A home whose lock can fail (``_WorkerHome/Failure``: a shared-memory segment found corrupt)
/// throws its failure from `enter`, `commit` and `cancel`; the lock is then not held, and `exit`
/// does nothing. So does a worker that finds the holder fields false (`HolderState.swift`): it
/// has left its batch.
extension _BatchEngine where Home: _BlockingHome {
    /// Blocking (or not) enter; `nil` when non-blocking and no coach can be entered now. Throws
    /// the home's failure (the caller then no longer counts as coming).
    @inlinable
    public func enter(blocking: Bool, balancer: _Balancer?) throws(Home.Failure) -> (coach: Int, index: Int)? {
        var queued = true
        var waitedForSection = false
        do throws(Home.Failure) {
            let me = try home.workerToken()
            try checkNotHolder(me, _Misuse.enterTwice)
            try home.lock()
            while true {
                if sectionHeldByOther(me) {
                    try home.wait(waitForSection(cap: home.yieldCapNanos))
                    waitedForSection = true
                    continue
                }
                switch enterStep(
                    blocking: blocking, queued: &queued, balancer: balancer, yieldCap: home.yieldCapNanos)
                {
                case .entered(let c, let index):
                    let keepsLock = home.sectionIsTheLock
                    takeSection(me, coach: c, state: .inside, keepsLock: keepsLock)
                    if keepsLock {
                        home.noteKeepingLock(.entered, coach: c, token: me, beginsBatch: index == 0)
                    } else {
                        home.note(.entered, coach: c, token: me)
                        home.unlock()
                    }
                    return (c, index)
                case .busy:
                    if waitedForSection { passOnSection() }
                    home.note(.idle, coach: -1)
                    home.unlock()
                    return nil
                case .wait(let plan):
                    if waitedForSection { passOnSection() }
                    waitedForSection = false
                    try home.wait(plan)
                }
            }
        } catch {
            if queued { leaveAfterFailure() }
            throw error
        }
    }

    /// Sets `triggered` on the caller's coach: commit as soon as possible. (A failed home has
    /// nothing left to trigger.)
    @inlinable
    public func trigger(coach c: Int) {
        let me = home.threadToken()
        do throws(Home.Failure) {
            try checkHolder(me, coach: c, outcomeKeepsSection: true, _Misuse.triggerOutside)
        } catch {
            return
        }
        _ = try? withLockOfSection(me) { triggerStep(coach: c) }
    }

    /// By the holder: runs `body` under the lock — which it holds already when the section is
    /// the lock, and takes for the call otherwise. `body` must not release the lock.
    @inlinable
    func withLockOfSection<R>(_ me: UInt64, _ body: () throws -> R) throws -> R {
        if keepsLock(me) { return try body() }
        try home.lock()
        defer { home.unlock() }
        return try body()
    }

    /// Commit (or wait for the batch's committer); every worker gets the same outcome.
    @inlinable
    public func commit(coach c: Int) throws -> Home.Result {
        let me = home.threadToken()
        try checkHolder(me, coach: c, outcomeKeepsSection: true, _Misuse.commitOutside)
        try checkNoOutcome(me, coach: c, _Misuse.secondOutcome)
        let keepsLock = keepsLock(me)
        if !keepsLock { try home.lock() }
        // A failure thrown here left the lock released.
        let outcome = try commitLocked(me, coach: c, keepsLock: keepsLock)
        if !keepsLock { home.unlock() }
        return try outcome.get()
    }

    /// ``commit(coach:)`` under the lock; `keepsLock` as when the caller entered. Returns the
    /// batch's outcome with the lock held; throws the home's failure with the lock released.
    @inlinable @inline(__always)
    func commitLocked(_ me: UInt64, coach c: Int, keepsLock: Bool) throws(Home.Failure)
        -> Swift.Result<Home.Result, any Error>
    {
        var patience = _Patience()
        while true {
            switch commitStep(coach: c, patience: &patience, yieldCap: home.yieldCapNanos, canCommitInPlace: true) {
            case .ready:
                return takeOutcome(me, coach: c)
            case .wait(let plan):
                releaseSection()
                home.note(.waiting, coach: c, token: me)
                try home.wait(plan)
                try retakeSection(me, coach: c, keepsLock: keepsLock)
            case .commit(let measure, inPlace: true):
                // Cheaper than handing the section over: commit holding it — and the lock, where
                // the section is the lock; elsewhere the lock is only ever held for a step.
                if keepsLock {
                    home.noteKeepingLock(.committing, coach: c, token: me, beginsBatch: false)
                } else {
                    home.note(.committing, coach: c, token: me)
                    home.unlock()
                }
                let start = measure ? cbatch_now_ns() : 0
                let outcome = home.runCommit(coach: c)
                let took = measure ? cbatch_now_ns() &- start : -1
                if !keepsLock { try home.lock() }
                publish(consume outcome, coach: c, took: took)
                // It kept the section throughout: the outcome is its to take (the `.ready` step).
                return takeOutcome(me, coach: c, keepingLock: keepsLock)
            case .commit(let measure, inPlace: false):
                releaseSection()
                home.note(.committing, coach: c, token: me)
                home.unlock()
                let start = measure ? cbatch_now_ns() : 0
                let outcome = home.runCommit(coach: c)
                let took = measure ? cbatch_now_ns() &- start : -1
                try home.lock()
                try retakeSection(me, coach: c, keepsLock: keepsLock)
                publish(consume outcome, coach: c, took: took)
            }
        }
    }

    /// Close the caller's batch without committing; every worker of the batch gets the
    /// closing's error.
    @inlinable
    public func cancel(coach c: Int, _ closing: _Closing) throws -> Home.Result {
        let me = home.threadToken()
        try checkHolder(me, coach: c, outcomeKeepsSection: true, _Misuse.cancelOutside)
        try checkNoOutcome(me, coach: c, _Misuse.cancelAfterOutcome)
        return try withLockOfSection(me) { try cancelStep(me, coach: c, closing) }
    }

    /// Under the lock, back from a wait or a commit: takes the section again, once no async task
    /// of another process holds it.
    @inlinable
    func retakeSection(_ me: UInt64, coach c: Int, keepsLock: Bool) throws(Home.Failure) {
        while sectionHeldByOther(me) { try home.wait(waitForSection(cap: home.yieldCapNanos)) }
        takeSection(me, coach: c, state: .inside, keepsLock: keepsLock)
    }

    /// Leave the batch and release the critical section. A worker whose `commit` threw the
    /// home's failure no longer holds the section: its exit does nothing.
    @inlinable
    public func exit(coach c: Int) -> Int {
        let me = home.threadToken()
        do throws(Home.Failure) {
            try checkHolder(me, coach: c, outcomeKeepsSection: true, _Misuse.exitWithoutEnter)
        } catch {
            return 0
        }
        if !keepsLock(me) {
            do { try home.lock() } catch { return 0 }
        }
        let left = exitSectionStep(me, coach: c)
        home.unlock()
        return left
    }
}

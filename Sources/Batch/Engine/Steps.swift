import CBatchCore

/// The steps of the algorithm: each runs under the home's lock, never sleeps, and says what the
/// caller does next. Both drivers and crash repair run these and nothing else on the state.

extension _BatchEngine where Home: _WorkerHome {
    /// What `enter` does next.
    public enum EnterStep: Sendable {
        /// Entered `coach` at position `index` (0: reset the shared state).
        case entered(coach: Int, index: Int)
        /// Cannot enter now and must not wait (non-blocking).
        case busy
        /// Wait as planned (on the enter channel) and try again.
        case wait(_Wait)
    }

    /// Under the lock: tries to enter a coach.
    ///
    /// - Parameters:
    ///   - queued: whether the caller still counts as coming. It stops counting when it enters,
    ///     when a non-blocking attempt gives up, and while a balancer refuses it a place although
    ///     coaches are free (so that it does not hold those batches up).
    ///   - balancer: picks a coach among the free ones, or `nil` for the first free.
    ///   - yieldCap: the home's cap on yielding (``_BlockingHome/yieldCapNanos``; async drivers
    ///     pass ``taskYieldCap``).
    @inlinable @inline(__always)
    public func enterStep(blocking: Bool, queued: inout Bool, balancer: _Balancer?, yieldCap: Int64) -> EnterStep {
        var anyFree = false
        var choice = -1
        if let balancer, let pick = balancer.pick {
            anyFree = balancer.fill(self)
            if anyFree {
                let picked = pick(balancer.words)
                if picked >= 0 && picked < coachCount && isFree(picked) { choice = picked }
            }
        } else {
            for c in 0..<coachCount where isFree(c) {
                choice = c
                break
            }
            anyFree = choice >= 0
        }
        if choice >= 0 {
            if queued {
                queued = false
                let others = hasOtherCoaches(than: choice)
                if leaveQueue(needLength: others) == 0 && others { wakeCommitters(except: choice) }
            }
            let co = coach(choice)
            let index = Int(co.pointee.count)
            co.pointee.count &+= 1  // wraps: a count another process wrote is checked, never trapped on
            if index == 0 { home.beginBatch(coach: choice) }
            return .entered(coach: choice, index: index)
        }
        if queued && (!blocking || anyFree) {
            // Giving up, or refused while batches fill: stop holding those batches up.
            queued = false
            _ = leaveQueue(needLength: false)
            wakeOtherCommitters(except: -1)
        }
        return blocking ? .wait(waitToEnter(cap: yieldCap)) : .busy
    }

    /// Under the lock: the caller stops counting as coming. Returns the queue length after,
    /// when `needLength` (otherwise a number not below 0: a home whose length is a sum skips it).
    @inlinable
    func leaveQueue(needLength: Bool) -> Int {
        let left = home.leaveQueue(needLength: needLength)
        precondition(left >= 0, _Misuse.enterWithoutQueueIn.description)
        return left
    }

    /// What `commit` does next.
    public enum CommitStep: Sendable {
        /// The outcome is published: read it.
        case ready
        /// Wait as planned (on the coach's commit channel) and look again.
        case wait(_Wait)
        /// The caller closed the batch and must run the commit function — timing it when
        /// `measure` —, then call ``_BatchEngine/publish(_:coach:took:)``. Without the lock,
        /// unless `inPlace`: the commit is expected to cost less than releasing and re-taking
        /// the lock, and the driver keeps it.
        case commit(measure: Bool, inPlace: Bool)
    }

    /// Under the lock, inside `coach`: commit now, wait, or read the outcome.
    ///
    /// A triggered batch commits at once. Otherwise the waiting policy (`WaitPolicy.swift`)
    /// decides whether to wait for announced workers, or, with nobody announced, for a
    /// just-served peer; `patience` carries what this worker has waited so far. `canCommitInPlace`:
    /// the driver can run the commit function without releasing the lock (a blocking driver;
    /// an async commit function may suspend, so the async driver cannot).
    @inlinable @inline(__always)
    public func commitStep(
        coach c: Int, patience: inout _Patience, yieldCap: Int64, canCommitInPlace: Bool
    ) -> CommitStep {
        if isPublished(c) { return .ready }
        // Closed: another worker runs the commit function.
        if !isFilling(c) { return .wait(waitForCommitter(c, cap: yieldCap)) }
        if policy.serialCommits && anyCommitting {
            // Another coach's batch commits: this one keeps filling meanwhile. Once that commit
            // ends, the policy decides as for any batch: the workers it served announce
            // themselves again and come to this batch, the first free one, which waits for them
            // up to one commit's cost (committing at once halved the batches: measured in
            // docs/BENCHMARKS.md).
            return .wait(waitForCommitter(c, cap: yieldCap))
        }
        // Announced workers come to this batch — with serial commits (a pipeline of coaches),
        // only when it is the first free coach, the one they enter.
        let queued = policy.serialCommits && firstFree != c ? 0 : home.queueLength
        if coach(c).pointee.triggered == 0 {
            if queued > 0 {
                if let wait = waitForAnnounced(c, &patience, cap: yieldCap) { return .wait(wait) }
            } else if let wait = waitForPeer(c, &patience, cap: yieldCap) {
                return .wait(wait)
            }
        }
        return .commit(
            measure: closeForCommit(c, contended: queued > 0), inPlace: canCommitInPlace && commitsInPlace)
    }
}

extension _BatchEngine {
    /// Under the lock: the queue changed in a way that may let a waiting worker of another
    /// coach commit; wake one waiter per coach to re-check.
    @inlinable @inline(__always)
    public func wakeOtherCommitters(except skip: Int) {
        if hasOtherCoaches(than: skip) { wakeCommitters(except: skip) }
    }

    /// Whether a coach other than `skip` exists (a Coordinator's one coach is coach 0).
    @inlinable @inline(__always)
    func hasOtherCoaches(than skip: Int) -> Bool { coachCount != 1 || skip != 0 }

    @inlinable
    func wakeCommitters(except skip: Int) {
        for c in 0..<coachCount where c != skip {
            home.wake(Self.commitChannel(c), all: false)
        }
    }

    /// Under the lock, after the commit function of `coach` ran (`took` ns, when it was timed;
    /// -1 otherwise): publish and wake the batch — and, with serial commits, the batch that
    /// waited for this commit to end.
    @inlinable @inline(__always)
    public func publish(_ outcome: consuming Home.Outcome, coach c: Int, took: Int64 = -1) {
        if took >= 0 { recordCommit(nanos: took) }
        home.publish(consume outcome, coach: c)
        markReady(c)
        if policy.serialCommits { wakeOtherCommitters(except: c) }
    }

    /// Under the lock, inside a filling `coach`: close the batch without running the commit
    /// function (cancel, a worker failed, a worker crashed); every worker of it gets the
    /// closing's error.
    @inlinable
    public func close(coach c: Int, _ closing: _Closing) {
        let co = coach(c)
        precondition(co.pointee.count > 0, _Misuse.cancelNotFilling.description)
        co.pointee.count = -co.pointee.count
        home.publishClosing(closing, coach: c)
        markReady(c)
    }

    @inlinable @inline(__always)
    func markReady(_ c: Int) {
        coach(c).pointee.ready = 1
        // Waiters handed the outcome outright have nothing left to do in the batch: their exits.
        for _ in 0..<home.wakePublished(coach: c) { _ = exitStep(coach: c) }
    }

    /// Under the lock: a worker of `coach` leaves it. Returns how many workers of that batch
    /// have not exited yet.
    @inlinable @inline(__always)
    public func exitStep(coach c: Int) -> Int {
        let co = coach(c)
        if co.pointee.count > 0 {
            // Leaving a filling batch: the others may now be able to commit.
            co.pointee.count -= 1
            if co.pointee.count == 0 {
                co.pointee.triggered = 0
            } else {
                home.wake(Self.commitChannel(c), all: false)
            }
            return Int(co.pointee.count)
        }
        // 0: nothing to leave. Exit without enter is caught by the holder check before this; a
        // count of 0 here is one another process wrote (a shared segment) while this worker slept.
        if co.pointee.count == 0 { return 0 }
        co.pointee.count += 1
        if co.pointee.count == 0 {
            // The last worker out of a finished batch resets the coach.
            co.pointee.ready = 0
            co.pointee.triggered = 0
            co.pointee.generation &+= 1
            home.resetOutcome(coach: c)
            home.wake(Self.enterChannel, all: true)
        }
        return Int(-co.pointee.count)
    }
}

import CShmSync

/// The batching algorithm of DESIGN.md §1, written once for every home.
///
/// Not API: public (underscored) only so that the package's modules can inline it; use
/// ``Coordinator`` and ``Multi`` (or their shared-memory twins in `BatchIPC`).
///
/// The algorithm is a set of *steps* that run under the home's lock and say what to do next
/// (enter, wait, commit), and a blocking *driver* that loops over them, sleeping with
/// ``_BatchHome/wait(_:)``. The async API drives the same steps with continuations.
///
/// State (all in ``cshm_core`` and ``cshm_coach``, see `cshm_core.h` for each field's invariant):
/// `queue` counts workers coming; each coach has `count` (>= 0 filling, < 0 closed with -count
/// still inside), `triggered`, `ready`. The critical section is the home's lock, held from
/// `enter` to `exit` except while the holder sleeps in `commit` or runs the commit function.
@frozen
public struct _BatchEngine<Home: _BatchHome>: Sendable {
    /// Where the state lives. Immutable.
    public let home: Home

    @inlinable
    public init(home: Home) { self.home = home }

    /// Channel of workers waiting to enter a coach.
    @inlinable static var enterChannel: Int { 0 }
    /// Channel of workers waiting in commit on `coach`.
    @inlinable static func commitChannel(_ coach: Int) -> Int { 1 + coach }

    @inlinable var core: UnsafeMutablePointer<cshm_core> { home.core }
    @inlinable func coach(_ c: Int) -> UnsafeMutablePointer<cshm_coach> { home.coaches + c }
    @inlinable var coachCount: Int { home.coachCount }
}

// MARK: - Steps: run under the lock, never sleep.

extension _BatchEngine {
    /// What `enter` does next.
    public enum EnterStep: Sendable {
        /// Entered `coach` at position `index` (0: reset the shared state).
        case entered(coach: Int, index: Int)
        /// Cannot enter now and must not wait (non-blocking).
        case busy
        /// Sleep on the enter channel and try again.
        case wait
    }

    /// Whether `coach` accepts workers: it is filling, not closed.
    @inlinable
    public func isFree(_ c: Int) -> Bool { coach(c).pointee.count >= 0 }

    /// Under the lock: tries to enter a coach.
    ///
    /// - Parameters:
    ///   - queued: whether the caller still counts as coming. It stops counting when it enters,
    ///     when a non-blocking attempt gives up, and while a balancer refuses it a place although
    ///     coaches are free (so that it does not hold those batches up).
    ///   - balancer: picks a coach among the free ones, or `nil` for the first free.
    @inlinable
    public func enterStep(blocking: Bool, queued: inout Bool, balancer: _Balancer?) -> EnterStep {
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
                let left = home.leaveQueue()
                precondition(left >= 0, "enter() without queueIn(): call queueIn() before enter()")
                if left == 0 { wakeOtherCommitters(except: choice) }
            }
            let co = coach(choice)
            let index = Int(co.pointee.count)
            co.pointee.count += 1
            return .entered(coach: choice, index: index)
        }
        if queued && (!blocking || anyFree) {
            // Giving up, or refused while batches fill: stop holding those batches up.
            queued = false
            let left = home.leaveQueue()
            precondition(left >= 0, "enter() without queueIn(): call queueIn() before enter()")
            wakeOtherCommitters(except: -1)
        }
        return blocking ? .wait : .busy
    }

    /// Under the lock: the queue changed in a way that may let a waiting worker of another
    /// coach commit; wake one waiter per coach to re-check.
    @inlinable
    public func wakeOtherCommitters(except skip: Int) {
        if coachCount == 1 && skip == 0 { return }  // a Coordinator: nobody else to wake
        for c in 0..<coachCount where c != skip {
            home.wake(Self.commitChannel(c), all: false)
        }
    }

    /// What `commit` does next.
    public enum CommitStep: Sendable {
        /// The outcome is published: read it.
        case ready
        /// Sleep on the coach's commit channel and look again.
        case wait
        /// The caller closed the batch and must run the commit function (without the lock), then
        /// call ``publish(_:coach:)``.
        case commit
    }

    /// Under the lock, inside `coach`: commit now, wait, or read the outcome.
    @inlinable
    public func commitStep(coach c: Int) -> CommitStep {
        let co = coach(c)
        if co.pointee.ready != 0 { return .ready }
        if co.pointee.count < 0 { return .wait }  // closed: another worker runs the commit
        if co.pointee.triggered != 0 || home.queueLength <= 0 {
            co.pointee.count = -co.pointee.count
            return .commit
        }
        return .wait
    }

    /// Under the lock, after the commit function of `coach` ran: publish and wake the batch.
    @inlinable
    public func publish(_ outcome: consuming Home.Outcome, coach c: Int) {
        home.publish(outcome, coach: c)
        markReady(c)
    }

    /// Under the lock, inside a filling `coach`: close the batch with an error (cancel, or a
    /// worker failed) without running the commit function.
    @inlinable
    public func close(coach c: Int, error: (any Error)?) {
        let co = coach(c)
        precondition(co.pointee.count > 0, "cancel() on a batch that is not filling")
        co.pointee.count = -co.pointee.count
        home.publishCancel(error, coach: c)
        markReady(c)
    }

    @inlinable
    func markReady(_ c: Int) {
        coach(c).pointee.ready = 1
        home.wake(Self.commitChannel(c), all: true)
    }

    /// Under the lock: a worker of `coach` leaves it. Returns how many workers of that batch
    /// have not exited yet.
    @inlinable
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
        precondition(co.pointee.count < 0, "exit() without enter(): call enter() first")
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

// MARK: - The blocking driver.

extension _BatchEngine {
    @inlinable
    func checkHolder(_ me: UInt64, coach c: Int, _ what: StaticString) {
        if cshm_atomic_load_u64(&core.pointee.holder) != me { preconditionFailure(what.description) }
        precondition(
            Int(core.pointee.holder_coach) == c,
            "the coach passed is not the one this worker entered: pass the coach enter() returned")
    }

    @inlinable
    func takeSection(_ me: UInt64, coach c: Int, state: UInt32) {
        cshm_atomic_store_u64(&core.pointee.holder, me)
        core.pointee.holder_coach = Int32(c)
        core.pointee.holder_state = state
    }

    /// By the holder of the critical section: whether it has no outcome yet (it may still
    /// commit or cancel). The safe API poisons the batch on a throw only then.
    @inlinable
    public var holderHasNoOutcome: Bool { core.pointee.holder_state == 1 }

    /// Blocking homes: traps when the calling thread holds the critical section, where `what`
    /// would wait for itself forever (the lock is not recursive, and a worker inside does not
    /// come again before it exits).
    @inlinable
    public func checkOutsideSection(_ what: StaticString) {
        if cshm_atomic_load_u64(&core.pointee.holder) == home.threadToken() { preconditionFailure(what.description) }
    }

    @inlinable
    func releaseSection() {
        cshm_atomic_store_u64(&core.pointee.holder, 0)
    }

    /// Announce a worker. Lock free.
    @inlinable
    public func queueIn() -> Int {
        let n = home.queueIn()
        home.note(.queued, coach: -1)
        return n
    }

    /// Take back an announcement (call ``notify()`` after it). Lock free.
    @inlinable
    public func queueOut() -> Int {
        let n = home.queueOut()
        precondition(n >= 0, "queueOut() without queueIn(): call queueIn() first")
        home.note(.idle, coach: -1)
        return n
    }

    /// Wake workers waiting in commit (so that they re-check the queue) and workers waiting to
    /// enter (so that a balancer is asked again).
    @inlinable
    public func notify() {
        home.lock()
        wakeOtherCommitters(except: -1)
        home.wake(Self.enterChannel, all: true)
        home.unlock()
    }

    /// Blocking (or not) enter; `nil` when non-blocking and no coach can be entered now.
    @inlinable
    public func enter(blocking: Bool, balancer: _Balancer?) -> (coach: Int, index: Int)? {
        let me = home.threadToken()
        precondition(
            cshm_atomic_load_u64(&core.pointee.holder) != me,
            "enter() called twice: call exit() before entering again")
        var queued = true
        home.lock()
        while true {
            switch enterStep(blocking: blocking, queued: &queued, balancer: balancer) {
            case .entered(let c, let index):
                takeSection(me, coach: c, state: 1)
                home.note(.entered, coach: c, token: me)
                return (c, index)
            case .busy:
                home.note(.idle, coach: -1)
                home.unlock()
                return nil
            case .wait:
                home.wait(Self.enterChannel)
            }
        }
    }

    /// Sets `triggered` on the caller's coach: commit as soon as possible.
    @inlinable
    public func trigger(coach c: Int) {
        checkHolder(home.threadToken(), coach: c, "trigger() outside the batch: call it between enter() and exit()")
        coach(c).pointee.triggered = 1
    }

    /// Commit (or wait for the batch's committer); every worker gets the same outcome.
    @inlinable
    public func commit(coach c: Int) throws -> Home.Result {
        let me = home.threadToken()
        checkHolder(me, coach: c, "commit() outside the batch: the order is queueIn(), enter(), commit(), exit()")
        precondition(
            core.pointee.holder_state == 1,
            "commit() or cancel() called twice: each worker gets one outcome per batch; call exit() next")
        while true {
            switch commitStep(coach: c) {
            case .ready:
                core.pointee.holder_state = 2
                home.note(.done, coach: c, token: me)
                return try home.result(coach: c)
            case .wait:
                home.note(.waiting, coach: c, token: me)
                releaseSection()
                home.wait(Self.commitChannel(c))
                takeSection(me, coach: c, state: 1)
            case .commit:
                home.note(.committing, coach: c, token: me)
                releaseSection()
                home.unlock()
                let outcome = home.runCommit(coach: c)
                home.lock()
                takeSection(me, coach: c, state: 1)
                publish(outcome, coach: c)
            }
        }
    }

    /// Close the caller's batch with `error` without committing; every worker of the batch gets
    /// the error.
    @inlinable
    public func cancel(coach c: Int, error: (any Error)?) throws -> Home.Result {
        let me = home.threadToken()
        checkHolder(me, coach: c, "cancel() outside the batch: the order is queueIn(), enter(), cancel(), exit()")
        precondition(
            core.pointee.holder_state == 1,
            "cancel() after commit() or cancel(): each worker gets one outcome per batch; call exit() next")
        close(coach: c, error: error)
        core.pointee.holder_state = 2
        home.note(.done, coach: c, token: me)
        return try home.result(coach: c)
    }

    /// Leave the batch and release the critical section.
    @inlinable
    public func exit(coach c: Int) -> Int {
        let me = home.threadToken()
        checkHolder(me, coach: c, "exit() without enter(): call enter() first, and exit() once")
        let left = exitStep(coach: c)
        core.pointee.holder_state = 0
        home.note(.idle, coach: c, token: me)
        releaseSection()
        home.unlock()
        return left
    }
}

/// Not API: a ``Multi`` balancer with the bitset it is shown, reused from call to call so that
/// balancing allocates nothing.
public final class _Balancer: @unchecked Sendable {
    /// The user's choice function, `nil` for "first free". Read and written only under the
    /// home's lock.
    @usableFromInline var pick: (@Sendable (_ free: [UInt64]) -> Int)?
    /// Bit `n` of the set: coach `n` is free. Read and written only under the home's lock.
    @usableFromInline var words: [UInt64]

    @inlinable
    public init(coaches: Int) {
        self.pick = nil
        self.words = Array(repeating: 0, count: (coaches + 63) / 64)
    }

    /// Under the lock: fills the set from the coaches; returns whether any coach is free.
    @inlinable
    func fill<Home>(_ engine: _BatchEngine<Home>) -> Bool {
        var any = false
        for w in words.indices { words[w] = 0 }
        for c in 0..<engine.coachCount where engine.isFree(c) {
            words[c / 64] |= 1 << UInt64(c % 64)
            any = true
        }
        return any
    }
}

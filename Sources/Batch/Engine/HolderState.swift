import CBatchCore

/// Not API: how far the worker that holds the critical section is in its batch
/// (`cbatch_core.holder_state`).
@frozen
public enum _HolderState: UInt32, Sendable {
    /// Nobody holds the section (or the holder is between steps that do not care).
    case none = 0
    /// Entered, no outcome yet: it may commit or cancel, and a throw poisons the batch.
    case inside = 1
    /// Has its batch's outcome: it may only exit.
    case decided = 2
    /// Inside, no outcome, and left on purpose (`BatchSection.leave()`): a throw now does not
    /// poison the batch; it may still commit or cancel.
    case left = 3
}

/// The bookkeeping of the critical section's holder, written once for both drivers: who holds
/// it (`core.holder`, a token from ``_WorkerHome/threadToken()``), which coach it entered, and
/// its ``_HolderState``. All under the lock, except the relaxed read of `holder` that catches
/// misuse from any thread.
extension _BatchEngine where Home: _WorkerHome {
    /// Under the lock: the holder's progress in its batch.
    @inlinable
    public var holderState: _HolderState {
        get { _HolderState(rawValue: core.pointee.holder_state & 0xff) ?? .none }
        nonmutating set {
            core.pointee.holder_state = (core.pointee.holder_state & Self.keepsLockBit) | newValue.rawValue
        }
    }

    /// Whether `me` holds the critical section and has no outcome yet (it may still commit or
    /// cancel). The safe API poisons the batch on a throw only then. (A task released from its
    /// published batch — or a committer of an async home, after publishing — holds no section.)
    @inlinable
    public func holderHasNoOutcome(_ me: UInt64) -> Bool {
        cbatch_atomic_load_u64(&core.pointee.holder) == me && holderState == .inside
    }

    /// By the holder `me`: whether it holds the home's lock for its whole section — by the home's
    /// own record where it keeps one (``_WorkerHome/ownKeepsLock(of:)``: the bit in
    /// `holder_state` is a word another process can write, and a worker that believed a false
    /// one would take a lock it holds, or step without it), by the bit otherwise.
    @inlinable @inline(__always)
    public func keepsLock(_ me: UInt64) -> Bool { home.ownKeepsLock(of: me) ?? holderKeepsLock }

    /// Under the lock: `me` holds the section, in `coach`, at `state` — and keeps the home's
    /// lock for the whole section when `keepsLock`. (The caller says which: while it waited,
    /// other holders wrote these fields.)
    @inlinable
    func takeSection(_ me: UInt64, coach c: Int, state: _HolderState, keepsLock: Bool) {
        cbatch_atomic_store_u64(&core.pointee.holder, me)
        core.pointee.holder_coach = Int32(truncatingIfNeeded: c)
        core.pointee.holder_state = (keepsLock ? Self.keepsLockBit : 0) | state.rawValue
    }

    /// Under the lock: nobody holds the section (the holder waits, commits, or exited); one
    /// worker waiting for it on the section channel re-checks (a wake costs nothing when none
    /// waits). One, not all: only one can take it, and waking them all would cost a step each
    /// per release. A woken worker that then does not take it passes the wake on
    /// (``passOnSection()``).
    @inlinable
    func releaseSection() {
        cbatch_atomic_store_u64(&core.pointee.holder, 0)
        home.wake(sectionChannel, all: false)
    }

    /// Under the lock, by a worker that waited for the section and ends its step without taking
    /// it (it waits for something else now, gives up, or takes its outcome without it): if the
    /// section is free, the next waiter re-checks — the wake it got was meant for one taker.
    @inlinable
    public func passOnSection() {
        if cbatch_atomic_load_u64(&core.pointee.holder) == 0 { home.wake(sectionChannel, all: false) }
    }

    /// Under the lock: another worker holds the section without holding the lock (an async
    /// task of a shared-memory home): a blocking worker must wait for it.
    @inlinable
    func sectionHeldByOther(_ me: UInt64) -> Bool {
        let holder = cbatch_atomic_load_u64(&core.pointee.holder)
        return holder != 0 && holder != me
    }

    /// Whether the holder fields say that `me` holds the section of `coach` (token 0 names
    /// nobody: a task without a seat). Read without the lock: `me` is the only writer of these
    /// fields while it holds the section.
    @inlinable @inline(__always)
    public func fieldsName(_ me: UInt64, coach c: Int) -> Bool {
        me != 0 && cbatch_atomic_load_u64(&core.pointee.holder) == me && Int(core.pointee.holder_coach) == c
    }

    /// By a worker whose call needs the section of `coach`: returns when the holder fields say
    /// it holds it. Otherwise see ``sectionFieldsFalse(_:coach:claim:misuse:wrongCoach:)``: it
    /// traps with `misuse` (`wrongCoach` when the fields name `me` in another coach), or throws
    /// the home's failure. Not under the lock (the section's, when its holder keeps it).
    @inlinable @inline(__always)
    func checkHolder(
        _ me: UInt64, coach c: Int, outcomeKeepsSection: Bool, _ misuse: StaticString,
        wrongCoach: StaticString = _Misuse.wrongCoach
    ) throws(Home.Failure) {
        if fieldsName(me, coach: c) { return }
        throw sectionFieldsFalse(
            me, coach: c, claim: .holds(outcomeKeepsSection: outcomeKeepsSection), misuse: misuse,
            wrongCoach: wrongCoach)
    }

    /// By the holder of `coach`'s section, whose call needs no outcome yet (commit or cancel):
    /// returns unless the holder state says it has one; then as ``checkHolder(_:coach:outcomeKeepsSection:_:wrongCoach:)``.
    @inlinable @inline(__always)
    func checkNoOutcome(_ me: UInt64, coach c: Int, _ misuse: StaticString) throws(Home.Failure) {
        if holderState != .decided { return }
        throw sectionFieldsFalse(me, coach: c, claim: .noOutcome, misuse: misuse, wrongCoach: misuse)
    }

    /// What a call claims of its caller when the holder fields disagree.
    public enum _Claim: Sendable {
        /// It holds the section of the coach (and, with `outcomeKeepsSection`, keeps it after its
        /// outcome: a blocking worker, or any worker leaving).
        case holds(outcomeKeepsSection: Bool)
        /// It has no outcome yet.
        case noOutcome
    }

    /// The holder fields disagree with the call of `me` on `coach` (``_Claim``), where a misuse
    /// would trap. Asks the home first:
    /// - its own record of `me` (``_WorkerHome/ownRecord(of:)``) bears the claim out: the fields
    ///   are another process's write. The home fails for good (a corrupt segment), and `me`
    ///   leaves its batch as a worker that failed (``abandonSection(_:_:failing:)``). Returns
    ///   the failure: the call reports it instead of trapping.
    /// - the home failed already: returns its failure (it cannot tell a misuse any more).
    /// - otherwise, a misuse: traps with `misuse`, or `wrongCoach` when the fields name `me` in
    ///   another coach.
    ///
    /// Not under the lock, except the section's when its holder keeps it (the record says which).
    @inline(never) @usableFromInline
    func sectionFieldsFalse(
        _ me: UInt64, coach c: Int, claim: _Claim, misuse: StaticString, wrongCoach: StaticString
    ) -> Home.Failure {
        if let record = home.ownRecord(of: me) {
            let holder = holder
            // What the fields say that the record contradicts, if they say anything.
            let falseField: (field: String, detail: String)?
            switch claim {
            case .holds(let outcomeKeepsSection)
            where record.holdsSection(of: c, outcomeKeepsSection: outcomeKeepsSection):
                let says = holder == me ? "coach \(core.pointee.holder_coach)" : "token \(holder)"
                falseField = (
                    holder == me ? "core holder coach" : "core holder",
                    "names \(says), but worker \(me) of this process holds the section of coach \(c)"
                )
            case .noOutcome where record.holdsSection(of: c, outcomeKeepsSection: false):
                falseField = (
                    "core holder state",
                    "says the holder has its outcome, but worker \(me) of this process has none yet"
                )
            default:
                falseField = nil
            }
            if let falseField {
                return abandonSection(me, record) {
                    home.holderFieldsFalse(field: falseField.field, detail: falseField.detail)
                }
            }
        }
        if let failure = home.failure { return failure }
        if me != 0 && holder == me && Int(core.pointee.holder_coach) != c {
            preconditionFailure(wrongCoach.description)
        }
        preconditionFailure(misuse.description)
    }

    /// The worker `me`, which holds the section of `record.coach` by its home's own record, found
    /// the holder fields false: the home fails for good (`failing` records it), and the worker
    /// leaves its batch as a worker that failed with that failure — a batch it is in before its
    /// outcome is closed (every worker of it gets ``BatchError/workerFailed(_:)``), its exit is
    /// counted, the section is released and so is the lock (which it keeps for its section, or
    /// takes for this step). Nothing of it hangs: the others of its batch get an outcome, and
    /// the section and the lock are free. Returns the failure.
    @usableFromInline
    func abandonSection(_ me: UInt64, _ record: _OwnRecord, failing: () -> Home.Failure) -> Home.Failure {
        // The lock before the failure is recorded: a failed home's lock gives up at once on a
        // busy mutex (it stops waiting), and the batch would be left as it is.
        var locked = record.keepsLock
        if !locked {
            do {
                try home.lock()
                locked = true
            } catch {}
        }
        let failure = failing()
        guard locked else { return failure }  // the lock failed: this process stops using the home
        let c = record.coach
        if c >= 0 && c < coachCount && workersInside(c) > 0 {
            if record.phase == .entered && isFilling(c) { close(coach: c, .workerFailed(failure)) }
            _ = exitStep(coach: c)
        }
        sectionHolderGone()
        home.note(.idle, coach: c, token: me)
        home.unlock()
        return failure
    }

    /// Traps with `misuse` when `me` holds the section already (enter twice); throws the home's
    /// failure instead when its own record of `me` says it is in no batch: the field is another
    /// process's write.
    @inlinable
    func checkNotHolder(_ me: UInt64, _ misuse: StaticString) throws(Home.Failure) {
        guard cbatch_atomic_load_u64(&core.pointee.holder) == me else { return }
        if let failure = holderNamesOutsider(me) { throw failure }
        preconditionFailure(misuse.description)
    }

    /// Blocking homes: traps when the calling thread holds the critical section, where `misuse`
    /// would wait for itself forever (the lock is not recursive, and a worker inside does not
    /// come again before it exits) — unless the holder field is another process's write: the
    /// home has then failed, and the caller's next step reports it.
    @inlinable
    public func checkOutsideSection(_ misuse: StaticString) {
        let me = home.threadToken()
        if cbatch_atomic_load_u64(&core.pointee.holder) == me && holderNamesOutsider(me) == nil {
            preconditionFailure(misuse.description)
        }
    }

    /// The holder field names `me`, which calls from outside any batch: the home's failure when
    /// its own record of `me` bears that out (the field is another process's write; the home
    /// fails for good); `nil` when it has no such record — then it is a misuse.
    @inline(never) @usableFromInline
    func holderNamesOutsider(_ me: UInt64) -> Home.Failure? {
        guard let record = home.ownRecord(of: me), !record.phase.isInBatch else { return nil }
        return home.holderFieldsFalse(
            field: "core holder", detail: "names worker \(me) of this process, which is in no batch")
    }
}

// MARK: - The holder's own steps, shared by both drivers (under the lock, by the holder `me`).

extension _BatchEngine where Home: _WorkerHome {
    /// Sets `triggered` on the holder's coach: commit as soon as possible. (The drivers check
    /// the holder before they take the lock for a step: a holder whose fields were found false
    /// leaves its batch, which needs the lock.)
    @inlinable
    public func triggerStep(coach c: Int) {
        setTriggered(c)
        home.stateChanged()
    }

    /// Under the lock: the batch of `coach` commits as soon as possible (the library's own
    /// batchers, which hold no section between steps, call it directly).
    @inlinable
    public func setTriggered(_ c: Int) { coach(c).pointee.triggered = 1 }

    /// Closes the holder's batch without committing; every worker of it gets the closing's
    /// error, which this throws. (The driver checked the holder and that it has no outcome.)
    @inlinable
    public func cancelStep(_ me: UInt64, coach c: Int, _ closing: _Closing) throws -> Home.Result {
        close(coach: c, closing)
        return try takeOutcome(me, coach: c).get()
    }

    /// Under the lock, by the holder of `coach`'s section, once its outcome is published: the
    /// holder has its outcome and may only exit. `keepingLock`: it keeps the lock until its exit
    /// (``_WorkerHome/noteKeepingLock(_:coach:token:beginsBatch:)``).
    @inlinable @inline(__always)
    public func takeOutcome(_ me: UInt64, coach c: Int, keepingLock: Bool = false)
        -> Swift.Result<Home.Result, any Error>
    {
        holderState = .decided
        if keepingLock {
            home.noteKeepingLock(.done, coach: c, token: me, beginsBatch: false)
        } else {
            home.note(.done, coach: c, token: me)
        }
        return Swift.Result { try home.result(coach: c) }
    }

    /// The holder of a section of `coach` leaves it without an outcome on purpose: a throw later
    /// in its closure does not poison the batch. Traps unless the caller holds the section of
    /// that coach — a section moved out of its closure — or the holder fields are false (the
    /// home failed: the next call that can throw reports it).
    @inlinable
    public func leaveSectionStep(_ me: UInt64, coach c: Int) {
        do throws(Home.Failure) {
            try checkHolder(
                me, coach: c, outcomeKeepsSection: true, _Misuse.sectionEscaped, wrongCoach: _Misuse.sectionEscaped)
        } catch {
            return  // the home failed: the next call that can throw reports it
        }
        if holderState == .inside {
            holderState = .left
            home.stateChanged()
        }
    }

    /// The holder leaves its batch and gives up the critical section (the caller checked the
    /// holder, and then releases the lock). Returns how many workers of that batch have not
    /// exited yet.
    @inlinable @inline(__always)
    public func exitSectionStep(_ me: UInt64, coach c: Int) -> Int {
        let left = exitStep(coach: c)
        holderState = .none
        releaseSection()
        home.note(.idle, coach: c, token: me)
        return left
    }
}

extension _BatchEngine {
    /// Bit of `holder_state`: the holder keeps the home's lock for its whole section (a blocking
    /// worker of a home whose section is the lock). Written with the rest by `takeSection`; read
    /// by the holder itself (its own write, with or without the lock), and by crash repair.
    @inlinable static var keepsLockBit: UInt32 { CBATCH_HOLDER_KEEPS_LOCK }

    /// Under the lock, by anyone (crash repair): whether the section's holder (if any) is the
    /// lock's holder too. The holder itself asks ``keepsLock(_:)``.
    @inlinable
    public var holderKeepsLock: Bool { core.pointee.holder_state & Self.keepsLockBit != 0 }

    /// The token of the section's holder, 0 when none; read atomically, from any thread.
    @inlinable
    public var holder: UInt64 { cbatch_atomic_load_u64(&core.pointee.holder) }

    /// Under the lock: the holder of the critical section is gone (it died; or the lock's
    /// holder died mid-step and left no holder to trust): nobody holds it; waiters re-check.
    @inlinable
    public func sectionHolderGone() {
        cbatch_atomic_store_u64(&core.pointee.holder, 0)
        core.pointee.holder_state = _HolderState.none.rawValue
        core.pointee.holder_coach = 0
        home.wake(sectionChannel, all: true)
    }
}

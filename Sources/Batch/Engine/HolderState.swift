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

    /// Traps with `misuse` unless `me` holds the section, and with the wrong-coach message
    /// unless it entered `coach`. (Token 0 names nobody: a task without a seat.)
    @inlinable
    func checkHolder(_ me: UInt64, coach c: Int, _ misuse: StaticString) {
        if me == 0 || cbatch_atomic_load_u64(&core.pointee.holder) != me { preconditionFailure(misuse.description) }
        precondition(Int(core.pointee.holder_coach) == c, _Misuse.wrongCoach.description)
    }

    /// Traps with `misuse` unless the holder has no outcome yet (commit or cancel a second time).
    @inlinable
    func checkNoOutcome(_ misuse: StaticString) {
        precondition(holderState != .decided, misuse.description)
    }

    /// Traps with `misuse` when `me` holds the section already (enter twice); throws the home's
    /// failure instead when the holder field is another process's write (``_WorkerHome/falseHolder(_:)``).
    @inlinable
    func checkNotHolder(_ me: UInt64, _ misuse: StaticString) throws(Home.Failure) {
        guard cbatch_atomic_load_u64(&core.pointee.holder) == me else { return }
        if let failure = home.falseHolder(me) { throw failure }
        preconditionFailure(misuse.description)
    }

    /// Blocking homes: traps when the calling thread holds the critical section, where `misuse`
    /// would wait for itself forever (the lock is not recursive, and a worker inside does not
    /// come again before it exits) — unless the holder field is another process's write: the
    /// home has then failed, and the caller's next step reports it.
    @inlinable
    public func checkOutsideSection(_ misuse: StaticString) {
        let me = home.threadToken()
        if cbatch_atomic_load_u64(&core.pointee.holder) == me && home.falseHolder(me) == nil {
            preconditionFailure(misuse.description)
        }
    }
}

// MARK: - The holder's own steps, shared by both drivers (under the lock, by the holder `me`).

extension _BatchEngine where Home: _WorkerHome {
    /// Sets `triggered` on the holder's coach: commit as soon as possible.
    @inlinable
    public func triggerStep(_ me: UInt64, coach c: Int) {
        checkHolder(me, coach: c, _Misuse.triggerOutside)
        setTriggered(c)
        home.stateChanged()
    }

    /// Under the lock: the batch of `coach` commits as soon as possible (the library's own
    /// batchers, which hold no section between steps, call it directly).
    @inlinable
    public func setTriggered(_ c: Int) { coach(c).pointee.triggered = 1 }

    /// Closes the holder's batch without committing; every worker of it gets the closing's
    /// error, which this throws.
    @inlinable
    public func cancelStep(_ me: UInt64, coach c: Int, _ closing: _Closing) throws -> Home.Result {
        checkHolder(me, coach: c, _Misuse.cancelOutside)
        checkNoOutcome(_Misuse.cancelAfterOutcome)
        close(coach: c, closing)
        return try takeOutcome(me, coach: c).get()
    }

    /// Under the lock, by the holder of `coach`'s section, once its outcome is published: the
    /// holder has its outcome and may only exit.
    @inlinable
    public func takeOutcome(_ me: UInt64, coach c: Int) -> Swift.Result<Home.Result, any Error> {
        holderState = .decided
        home.note(.done, coach: c, token: me)
        return Swift.Result { try home.result(coach: c) }
    }

    /// The holder of a section of `coach` leaves it without an outcome on purpose: a throw later
    /// in its closure does not poison the batch. Traps unless the caller holds the section of
    /// that coach — a section moved out of its closure.
    @inlinable
    public func leaveSectionStep(_ me: UInt64, coach c: Int) {
        if cbatch_atomic_load_u64(&core.pointee.holder) != me || Int(core.pointee.holder_coach) != c {
            preconditionFailure(_Misuse.sectionEscaped.description)
        }
        if holderState == .inside {
            holderState = .left
            home.stateChanged()
        }
    }

    /// The holder leaves its batch and gives up the critical section (the caller then releases
    /// the lock). Returns how many workers of that batch have not exited yet.
    @inlinable @inline(__always)
    public func exitSectionStep(_ me: UInt64, coach c: Int) -> Int {
        checkHolder(me, coach: c, _Misuse.exitWithoutEnter)
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
    @inlinable static var keepsLockBit: UInt32 { 0x100 }

    /// By the holder: whether it holds the home's lock for its whole section. Under the lock,
    /// by anyone: whether the section's holder (if any) is the lock's holder too.
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

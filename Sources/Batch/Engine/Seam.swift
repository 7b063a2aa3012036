import CBatchCore

// The seam between the algorithm (`_BatchEngine`, written once) and its homes — where a batch's
// state lives and how its waiters sleep. Not API: public (underscored) only so that the package's
// modules can inline it. Do not conform to these protocols outside this package.
//
// It comes in layers, so that each home implements only what it has:
//
//   _BatchState      what the steps need: the state, wake-ups, where outcomes go.
//                    Every home; BatchIPC's crash repair implements only this.
//   _WorkerHome      a home that workers use: their names, the lock, the queue, results, phases.
//   _BlockingHome    its waiters are threads: sleep on a channel, run the commit function.
//                    The in-process home (LocalHome) and BatchIPC's shared-memory home.
//   _AsyncBatchHome  its waiters are suspended tasks (Async/AsyncHome.swift).
//
// "Under the lock" below means: between `lock()` (or the return of `wait`) and `unlock()` (or
// the call of `wait`), on the calling thread.

/// Not API: what the engine's steps read and write — the state, the wake-ups, and where a
/// batch's outcome is kept.
public protocol _BatchState: AnyObject, Sendable {
    /// What the commit function produced, as the home stores it (a value or an error).
    associatedtype Outcome

    /// The algorithm's global state. The address never changes while the home lives.
    var core: UnsafeMutablePointer<cbatch_core> { get }
    /// `coachCount` coaches, contiguous. The address never changes while the home lives.
    var coaches: UnsafeMutablePointer<cbatch_coach> { get }
    /// Number of coaches, at least 1.
    var coachCount: Int { get }
    /// What the waiting policy measured. The address never changes while the home lives.
    var policyState: UnsafeMutablePointer<cbatch_policy> { get }

    /// Under the lock: wakes the sleepers on `channel` — all of them, or at least one when `all`
    /// is false. Costs nothing when nobody sleeps there. Channel 0 is "waiting to enter";
    /// channel `1 + c` is "waiting in commit on coach c".
    func wake(_ channel: Int, all: Bool)

    /// Under the lock: the outcome of `coach` was just published; wakes its waiters (by default
    /// all sleepers of its commit channel, to read it). A home may release them instead: let
    /// them take the outcome without the lock (it does not change until the coach resets, which
    /// waits for their exits). Returns how many of them it handed the outcome to outright, whose
    /// exits the engine then counts (0 by default).
    func wakePublished(coach: Int) -> Int

    /// Under the lock, on a closed coach: stores the commit's outcome.
    func publish(_ outcome: consuming Outcome, coach: Int)
    /// Under the lock, on a coach just closed without its commit function: stores why.
    func publishClosing(_ closing: _Closing, coach: Int)
    /// Under the lock: forgets the published outcome; the last worker left the coach.
    func resetOutcome(coach: Int)
}

extension _BatchState {
    @inlinable public func wakePublished(coach: Int) -> Int {
        wake(1 + coach, all: true)
        return 0
    }
}

/// Not API: a home that workers use (every home but crash repair's).
public protocol _WorkerHome: _BatchState {
    /// What `commit()` returns to every worker of a batch.
    associatedtype Result
    /// Why the lock can fail: `Never` for the homes of this process. The shared-memory home's
    /// lock fails on a segment found corrupt (``_WorkerHome/failure``), and a thread that cannot
    /// get a participant slot fails to enter.
    associatedtype Failure: Error = Never

    /// A nonzero token that names the calling thread (or task) among the workers of this home.
    func threadToken() -> UInt64

    /// Takes the lock. A home that can observe dead participants repairs the state here, before
    /// returning, so the algorithm always sees a consistent state. When it throws, the lock is
    /// not held.
    func lock() throws(Failure)
    /// Releases the lock.
    func unlock()

    /// Lock free: announce a worker. Returns the queue length after the change.
    func queueIn() -> Int
    /// Lock free: take back an announcement. Returns the queue length after the change.
    func queueOut() -> Int
    /// The number of announced workers; exact under the lock.
    var queueLength: Int { get }
    /// Under the lock: the calling worker, which announced itself, enters a coach or gives up and
    /// stops counting as coming. Returns the queue length after the change when `needLength`;
    /// otherwise any number not below 0 (a home whose length is a sum need not compute it).
    /// Negative when the caller had not announced itself (the engine traps on that misuse).
    func leaveQueue(needLength: Bool) -> Int

    /// Under the lock, on a ready coach: the published result, or its error thrown.
    func result(coach: Int) throws -> Result

    /// Under the lock: the first worker of a new batch of `coach` entered (index 0). The home
    /// drops what it keeps per batch besides the user's state (BatchIPC: the record arena).
    func beginBatch(coach: Int)

    /// Under the lock (except `.queued`, and `.idle` after `queueOut`, which come without it):
    /// what the calling worker is doing now. The shared-memory home records it so that a crash
    /// can be told apart, and saves the state there as the crash snapshot — so a step notes its
    /// phase after its changes to the state (the section released included): a lock holder
    /// that dies before the next phase change is rolled back to this point. The homes of this
    /// process ignore it.
    func note(_ phase: WorkerPhase, coach: Int)
    /// ``note(_:coach:)`` by the worker whose ``threadToken()`` is `token` (the caller's, already
    /// at hand): a home that finds its per-thread record from the token saves a lookup.
    func note(_ phase: WorkerPhase, coach: Int, token: UInt64)
    /// ``note(_:coach:token:)`` by a worker that keeps the lock until its next phase change, so
    /// that no other participant sees the state in between (a blocking worker whose section is
    /// the lock: entered, committing in place, done). `beginsBatch`: it has just entered an
    /// empty coach. The engine's rule (DESIGN.md, "a batch nobody else saw"): a worker that began
    /// its batch alone and has kept the lock since can have its batch undone by its death — no
    /// other worker is in it, and none has seen it —, so a home may leave these phase changes
    /// unrecorded until the worker notes a phase without this call (a wait, an exit, a commit
    /// that releases the lock) or changes the state in place (``stateChanged()``). Its death in
    /// between is then the death of a worker that had not entered yet.
    func noteKeepingLock(_ phase: WorkerPhase, coach: Int, token: UInt64, beginsBatch: Bool)
    /// Under the lock: the coaches or the section's holder fields changed and no phase change
    /// follows in the same step (a trigger; the holder left its batch on purpose). The
    /// shared-memory home saves the crash snapshot again, so that a later restore does not undo
    /// the change; the homes of this process ignore it.
    func stateChanged()
    /// What the home knows of the worker `me` (a token of its own) apart from the section's
    /// holder fields — its phase, coach and whether it keeps the lock — or `nil` when those
    /// fields are the only record. A shared-memory home keeps one in this process's memory: the
    /// fields are words of the segment, which another process can write. A misuse check that is
    /// about to trap on the fields asks it first (`HolderState.swift`). Homes of this process own
    /// the fields and keep none.
    func ownRecord(of me: UInt64) -> _OwnRecord?
    /// By the holder `me`: whether it keeps the lock for its whole section, by the home's own
    /// record (``_OwnRecord/keepsLock``); `nil` when it keeps none. A cheaper
    /// ``ownRecord(of:)`` for the hot path of `commit` and `exit`.
    func ownKeepsLock(of me: UInt64) -> Bool?
    /// The section's holder fields were found false: the home's own record of a worker of this
    /// home contradicts `field` (`detail` says how). Records the failure — the home has failed
    /// for good — and returns it. Called only on a home that keeps own records.
    func holderFieldsFalse(field: String, detail: String) -> Failure
    /// Why the home failed for good, `nil` while it is usable. A failed home reports its failure
    /// where a misuse check would trap: it cannot tell a misuse from its own state any more.
    var failure: Failure? { get }
}

extension _WorkerHome {
    @inlinable public func stateChanged() {}
    @inlinable @inline(__always)
    public func noteKeepingLock(_ phase: WorkerPhase, coach: Int, token: UInt64, beginsBatch: Bool) {
        note(phase, coach: coach, token: token)
    }
}

extension _WorkerHome where Failure == Never {
    @inlinable public func ownRecord(of me: UInt64) -> _OwnRecord? { nil }
    @inlinable public func ownKeepsLock(of me: UInt64) -> Bool? { nil }
    @inlinable public func holderFieldsFalse(field: String, detail: String) -> Never {
        preconditionFailure("a home without own records of its workers found its holder fields false")
    }
    @inlinable public var failure: Never? { nil }
}

/// Not API: a home whose waiters are threads, driven by the blocking driver.
public protocol _BlockingHome: _WorkerHome {
    /// Under the lock: releases it, waits as `plan` says — yields the CPU until
    /// `plan.yieldUntil`, then sleeps until ``_BatchState/wake(_:all:)`` on `plan.channel`, or
    /// `plan.deadline`, or a liveness period — and takes the lock again. Callers re-check. When
    /// it throws, the lock is not held.
    func wait(_ plan: _Wait) throws(Failure)
    /// The most a waiter of this home may yield, ns (the shared-memory home's per-process
    /// budget); `Int64.max` when only the coordinator's ``BatchWaiting/yieldBudget`` counts.
    var yieldCapNanos: Int64 { get }
    /// Under the lock: whether a worker that enters keeps the lock for its whole section (the
    /// section *is* the lock). Otherwise it holds the section alone (`core.holder`) and takes
    /// the lock for each step: a shared-memory segment once async workers take part, so that
    /// the lock is only ever held for a step. Once false, false for ever.
    var sectionIsTheLock: Bool { get }
    /// Not under the lock, first thing in `enter`: the calling thread's token, once it has what
    /// it needs to take part (BatchIPC: a participant slot).
    func workerToken() throws(Failure) -> UInt64
    /// Not under the lock: runs the commit function of `coach` and captures what it produced.
    func runCommit(coach: Int) -> Outcome
}

extension _BlockingHome {
    @inlinable public func workerToken() -> UInt64 { threadToken() }
}

/// Not API: why a filling batch is closed without running its commit function. Every worker of
/// the batch gets ``error``.
public enum _Closing: Sendable {
    /// `cancel(error)`; `nil` stands for ``BatchError/canceled``.
    case canceled((any Error)?)
    /// A worker threw inside the critical section before its outcome: the batch is poisoned.
    case workerFailed(any Error)
    /// A worker process died inside the batch before its outcome (crash repair).
    case workerCrashed(pid: Int32)

    /// The closing of `cancel(error)`: `cancel(BatchError.canceled)` is the same as `cancel()`.
    @inlinable
    public static func cancel(_ error: (any Error)?) -> _Closing {
        if let error, case BatchError.canceled = error { return .canceled(nil) }
        return .canceled(error)
    }

    /// What every worker of the batch gets.
    @inlinable
    public var error: any Error {
        switch self {
        case .canceled(let error): error ?? BatchError.canceled
        case .workerFailed(let cause): BatchError.workerFailed(cause)
        case .workerCrashed(let pid): BatchError.workerCrashed(pid: pid)
        }
    }
}

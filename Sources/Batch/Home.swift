import CShmSync

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Not API: the seam between the algorithm and its homes, public (underscored) only so that the
/// package's modules can inline it. Do not conform to it outside this package.
///
/// Where a batch's state lives and how its waiters sleep: the seam between the algorithm
/// (``_BatchEngine``, written once) and its homes.
///
/// Two homes implement it: `LocalHome` keeps the state in process memory behind a private
/// pthread mutex and condition variables; `BatchIPC` keeps it in a POSIX shared-memory segment
/// behind a robust process-shared mutex and futex conditions. The algorithm never sees the
/// difference.
///
/// "Under the lock" below means: between `lock()` (or the return of `wait`) and `unlock()` (or
/// the call of `wait`), on the calling thread.
public protocol _BatchHome: AnyObject, Sendable {
    /// What `commit()` returns to every worker of a batch.
    associatedtype Result
    /// What the commit function produced, as the home stores it (a value or an error).
    associatedtype Outcome

    /// The algorithm's global state. The address never changes while the home lives.
    var core: UnsafeMutablePointer<cshm_core> { get }
    /// `coachCount` coaches, contiguous. The address never changes while the home lives.
    var coaches: UnsafeMutablePointer<cshm_coach> { get }
    /// Number of coaches, at least 1.
    var coachCount: Int { get }

    /// A nonzero token that names the calling thread among the threads using this home.
    func threadToken() -> UInt64

    /// Takes the lock. A home that can observe dead participants repairs the state here, before
    /// returning, so the algorithm always sees a consistent state.
    func lock()
    /// Releases the lock.
    func unlock()
    /// Under the lock: releases it, sleeps until ``wake(_:all:)`` on `channel` (or spuriously, or
    /// after a liveness period), and takes it again. Callers re-check their condition.
    ///
    /// Channel 0 is "waiting to enter"; channel `1 + c` is "waiting in commit on coach c".
    func wait(_ channel: Int)
    /// Under the lock: wakes the sleepers on `channel` — all of them, or at least one when `all`
    /// is false. Costs nothing when nobody sleeps there.
    func wake(_ channel: Int, all: Bool)

    /// Lock free: announce a worker. Returns the queue length after the change.
    func queueIn() -> Int
    /// Lock free: take back an announcement. Returns the queue length after the change.
    func queueOut() -> Int
    /// The number of announced workers; exact under the lock.
    var queueLength: Int { get }
    /// Under the lock: the calling worker, which announced itself, enters a coach or gives up and
    /// stops counting as coming. Returns the queue length after the change.
    func leaveQueue() -> Int

    /// Not under the lock: runs the commit function of `coach` and captures what it produced.
    func runCommit(coach: Int) -> Outcome
    /// Under the lock, on a closed coach: stores the commit's outcome.
    func publish(_ outcome: consuming Outcome, coach: Int)
    /// Under the lock, on a closed coach: stores a cancellation (`nil` means ``BatchError/canceled``).
    func publishCancel(_ error: (any Error)?, coach: Int)
    /// Under the lock, on a ready coach: the published result, or its error thrown.
    func result(coach: Int) throws -> Result
    /// Under the lock: forgets the published outcome; the last worker left the coach.
    func resetOutcome(coach: Int)

    /// Under the lock (except `.queued`/`.unqueued`, which come without it): what the calling
    /// worker is doing now. The shared-memory home records it so that a crash can be told apart;
    /// the in-process home ignores it.
    func note(_ phase: _WorkerPhase, coach: Int)
    /// ``note(_:coach:)`` by the worker whose ``threadToken()`` is `token` (the caller's, already
    /// at hand): a home that finds its per-thread record from the token saves a lookup.
    func note(_ phase: _WorkerPhase, coach: Int, token: UInt64)
}

/// What a worker is doing, as far as crash recovery cares. See DESIGN.md §2, "Crash model".
public enum _WorkerPhase: UInt32, Sendable {
    /// Not taking part.
    case idle = 0
    /// Announced (queueIn), or waiting to enter: counts as coming.
    case queued = 1
    /// Inside a filling batch, holding the critical section, before commit.
    case entered = 2
    /// Inside a filling batch, asleep in commit or cancel: its data is in the batch.
    case waiting = 3
    /// Running the commit function of its batch, until the outcome is published.
    case committing = 4
    /// Has the outcome of its batch; only `exit()` remains.
    case done = 5
}

extension _BatchHome {
    @inlinable public func queueIn() -> Int {
        Int(cshm_atomic_add_i64(&core.pointee.queue, 1))
    }
    @inlinable public func queueOut() -> Int {
        Int(cshm_atomic_add_i64(&core.pointee.queue, -1))
    }
    @inlinable public var queueLength: Int {
        Int(cshm_atomic_load_i64(&core.pointee.queue))
    }
    @inlinable public func leaveQueue() -> Int {
        Int(cshm_atomic_add_i64(&core.pointee.queue, -1))
    }
    @inlinable public func note(_ phase: _WorkerPhase, coach: Int) {}
    @inlinable public func note(_ phase: _WorkerPhase, coach: Int, token: UInt64) { note(phase, coach: coach) }
}

/// Not API: a home of this process (the in-process and the async home): its state, mutex and
/// outcomes live in one ``_ProcessMemory``, and each coach's outcome is a Swift `Result`. The
/// state's accessors and the outcome storage are written once here.
public protocol _LocalOutcomes: _BatchHome where Outcome == Swift.Result<Result, any Error> {
    /// The algorithm's state, the mutex and the outcomes. Allocated once; nothing moves.
    var memory: _ProcessMemory<Outcome> { get }
}

extension _LocalOutcomes {
    @inlinable public var core: UnsafeMutablePointer<cshm_core> { memory.core }
    @inlinable public var coaches: UnsafeMutablePointer<cshm_coach> { memory.coaches }
    @inlinable public var coachCount: Int { memory.coachCount }
    /// The home's pthread mutex.
    @inlinable public var mutex: UnsafeMutablePointer<pthread_mutex_t> { memory.mutex }
    /// Per coach, the published outcome; `nil` until published and after reset. Under the lock.
    @inlinable public var outcomes: UnsafeMutablePointer<Outcome?> { memory.outcomes }

    /// Takes the home's pthread mutex (for the async home: the real mutex, not the logical
    /// section).
    @inlinable
    public func lock() {
        let rc = pthread_mutex_lock(mutex)
        precondition(rc == 0, "pthread_mutex_lock failed: \(rc)")
    }

    @inlinable
    public func publish(_ outcome: consuming Outcome, coach: Int) {
        outcomes[coach] = outcome
    }

    @inlinable
    public func publishCancel(_ error: (any Error)?, coach: Int) {
        outcomes[coach] = .failure(error ?? BatchError.canceled)
    }

    @inlinable
    public func result(coach: Int) throws -> Result {
        guard let outcome = outcomes[coach] else {
            preconditionFailure("result read before it was published")
        }
        return try outcome.get()
    }

    @inlinable
    public func resetOutcome(coach: Int) {
        outcomes[coach] = nil
    }
}

/// Not API: what both homes of this process (in-process and async) allocate once: the
/// algorithm's state, the pthread mutex that guards it, and per coach the published outcome.
/// No address moves while the home lives (pthread mutexes must not move).
@frozen
public struct _ProcessMemory<Outcome> {
    /// The algorithm's global state.
    public let core: UnsafeMutablePointer<cshm_core>
    /// `coachCount` coaches, contiguous.
    public let coaches: UnsafeMutablePointer<cshm_coach>
    /// Number of coaches, at least 1.
    public let coachCount: Int
    /// The home's mutex.
    public let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Per coach, the published outcome; `nil` until published and after reset. Under the lock.
    public let outcomes: UnsafeMutablePointer<Outcome?>

    /// Allocates and initialises the state of `count` coaches; `what` names the coordinator in
    /// the trap for a bad count.
    public init(coaches count: Int, what: StaticString) {
        precondition(count >= 1, "\(what) needs at least one coach (got \(count))")
        coachCount = count
        core = .allocate(capacity: 1)
        core.initialize(to: cshm_core())
        coaches = .allocate(capacity: count)
        coaches.initialize(repeating: cshm_coach(), count: count)
        mutex = .allocate(capacity: 1)
        let rc = pthread_mutex_init(mutex, nil)
        precondition(rc == 0, "pthread_mutex_init failed: \(rc)")
        outcomes = .allocate(capacity: count)
        outcomes.initialize(repeating: nil, count: count)
    }

    /// Frees everything `init` allocated; the home is being destroyed.
    public func deallocate() {
        pthread_mutex_destroy(mutex)
        outcomes.deinitialize(count: coachCount).deallocate()
        mutex.deallocate()
        coaches.deallocate()
        core.deallocate()
    }
}

import CBatchCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Not API: what the homes of this process (the in-process blocking home and the async home)
/// allocate once: the algorithm's state, the pthread mutex that guards it, and per coach the
/// published outcome. No address moves while the home lives (pthread mutexes must not move).
@frozen
public struct _ProcessMemory<Outcome> {
    /// The algorithm's global state.
    public let core: UnsafeMutablePointer<cbatch_core>
    /// `coachCount` coaches, contiguous.
    public let coaches: UnsafeMutablePointer<cbatch_coach>
    /// Number of coaches, at least 1.
    public let coachCount: Int
    /// The home's mutex.
    public let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Per coach, the published outcome; `nil` until published and after reset. Under the lock.
    public let outcomes: UnsafeMutablePointer<Outcome?>
    /// What the waiting policy measured. Under the lock.
    public let policyState: UnsafeMutablePointer<cbatch_policy>
    /// Announced workers that stopped counting under the lock (they entered, or gave up
    /// waiting to enter): the queue's second counter, beside `core.queue` (`cbatch_queue_*`).
    public let departed: UnsafeMutablePointer<Int64>

    /// Allocates and initialises the state of `count` coaches; `what` names the coordinator in
    /// the trap for a bad count.
    public init(coaches count: Int, what: StaticString) {
        precondition(count >= 1, "\(what) needs at least one coach (got \(count))")
        coachCount = count
        core = .allocate(capacity: 1)
        core.initialize(to: cbatch_core())
        coaches = .allocate(capacity: count)
        coaches.initialize(repeating: cbatch_coach(), count: count)
        mutex = .allocate(capacity: 1)
        // Adaptive: a contended lock spins briefly before it sleeps. The lock is held for a step
        // (well under a microsecond), and a futex sleep and wake-up costs 5-25 µs.
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ADAPTIVE_NP))
        let rc = pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
        precondition(rc == 0, "pthread_mutex_init failed: \(rc)")
        outcomes = .allocate(capacity: count)
        outcomes.initialize(repeating: nil, count: count)
        policyState = .allocate(capacity: 1)
        policyState.initialize(to: cbatch_policy())
        departed = .allocate(capacity: 1)
        departed.initialize(to: 0)
    }

    /// Frees everything `init` allocated; the home is being destroyed.
    public func deallocate() {
        pthread_mutex_destroy(mutex)
        departed.deallocate()
        policyState.deallocate()
        outcomes.deinitialize(count: coachCount).deallocate()
        mutex.deallocate()
        coaches.deallocate()
        core.deallocate()
    }
}

/// Not API: a home of this process (the in-process and the async home): its state, mutex and
/// outcomes live in one ``_ProcessMemory``, each coach's outcome is a Swift `Result`, the queue
/// is `core.queue` minus `memory.departed`, and phases are not recorded (a thread cannot die
/// alone). Written once here.
public protocol _LocalOutcomes: _WorkerHome where Outcome == Swift.Result<Result, any Error> {
    /// The algorithm's state, the mutex and the outcomes. Allocated once; nothing moves.
    var memory: _ProcessMemory<Outcome> { get }
}

extension _LocalOutcomes {
    @inlinable public var core: UnsafeMutablePointer<cbatch_core> { memory.core }
    @inlinable public var coaches: UnsafeMutablePointer<cbatch_coach> { memory.coaches }
    @inlinable public var coachCount: Int { memory.coachCount }
    /// The home's pthread mutex.
    @inlinable public var mutex: UnsafeMutablePointer<pthread_mutex_t> { memory.mutex }
    /// Per coach, the published outcome; `nil` until published and after reset. Under the lock.
    @inlinable public var outcomes: UnsafeMutablePointer<Outcome?> { memory.outcomes }
    @inlinable public var policyState: UnsafeMutablePointer<cbatch_policy> { memory.policyState }

    // The queue: `core.queue` and `memory.departed`, read and written by `cbatch_queue_*`.
    @inlinable public func queueIn() -> Int { Int(cbatch_queue_add(&core.pointee.queue, memory.departed, 1)) }
    @inlinable public func queueOut() -> Int { Int(cbatch_queue_add(&core.pointee.queue, memory.departed, -1)) }
    /// Exact under the lock.
    @inlinable public var queueLength: Int { Int(cbatch_queue_length(&core.pointee.queue, memory.departed)) }
    /// Under the lock: no read-modify-write.
    @inlinable public func leaveQueue(needLength: Bool) -> Int {
        Int(cbatch_queue_depart(&core.pointee.queue, memory.departed))
    }

    @inlinable public func beginBatch(coach: Int) {}
    @inlinable public func note(_ phase: WorkerPhase, coach: Int) {}
    @inlinable public func note(_ phase: WorkerPhase, coach: Int, token: UInt64) {}

    /// The store is `nil` here (reset by the last exit of the coach's previous batch): it is
    /// initialized over, without the outlined destruction of the old value an assignment costs.
    @inlinable
    public func publish(_ outcome: consuming Outcome, coach: Int) {
        assert(outcomes[coach] == nil, "an outcome published over another")
        (outcomes + coach).initialize(to: consume outcome)
    }

    @inlinable
    public func publishClosing(_ closing: _Closing, coach: Int) {
        outcomes[coach] = .failure(closing.error)
    }

    /// Read in place: a copy of the stored `Result` (and its destruction) costs two outlined
    /// calls per op.
    @inlinable
    public func result(coach: Int) throws -> Result {
        switch outcomes[coach] {
        case .success(let value)?: return value
        case .failure(let error)?: throw error
        case nil: preconditionFailure("result read before it was published")
        }
    }

    @inlinable
    public func resetOutcome(coach: Int) {
        outcomes[coach] = nil
    }
}

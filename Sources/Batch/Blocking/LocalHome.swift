import CBatchCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The in-process home: the algorithm's state in ordinary memory, guarded by a private pthread
/// mutex, with one pthread condition variable per channel.
///
/// Not API: public (underscored) only so that ``Coordinator`` and ``Multi`` can be inlined.
public final class _LocalHome<Result>: _LocalOutcomes, _BlockingHome, @unchecked Sendable {
    public typealias Outcome = Swift.Result<Result, any Error>

    /// The algorithm's state, the lock and the outcomes. Allocated once; nothing moves.
    public let memory: _ProcessMemory<Outcome>
    /// `1 + coachCount` conditions: channel 0 (waiting to enter), then one per coach.
    @usableFromInline let conditions: UnsafeMutablePointer<pthread_cond_t>
    /// Per channel, how many threads sleep on it. Under the lock. Lets `wake` skip the call
    /// when nobody sleeps.
    @usableFromInline let sleepers: UnsafeMutablePointer<Int>
    /// The user's commit function, called with the coach. Immutable.
    @usableFromInline let commitFunction: @Sendable (_ coach: Int) throws -> Result

    public init(coaches count: Int, commit: @escaping @Sendable (_ coach: Int) throws -> Result) {
        memory = _ProcessMemory(coaches: count, what: "a coordinator")
        commitFunction = commit
        conditions = .allocate(capacity: 1 + count)
        sleepers = .allocate(capacity: 1 + count)
        sleepers.initialize(repeating: 0, count: 1 + count)
        for ch in 0...count {
            let rc = pthread_cond_init(conditions + ch, nil)
            precondition(rc == 0, "pthread_cond_init failed: \(rc)")
        }
    }

    deinit {
        for ch in 0...coachCount { pthread_cond_destroy(conditions + ch) }
        sleepers.deallocate()
        conditions.deallocate()
        memory.deallocate()
    }

    @inlinable
    public func threadToken() -> UInt64 { cbatch_thread_token() }

    @inlinable
    public func unlock() {
        let rc = pthread_mutex_unlock(mutex)
        precondition(rc == 0, "pthread_mutex_unlock failed: \(rc)")
    }

    @inlinable
    public func wait(_ channel: Int) {
        sleepers[channel] += 1
        let rc = pthread_cond_wait(conditions + channel, mutex)
        precondition(rc == 0, "pthread_cond_wait failed: \(rc)")
        sleepers[channel] -= 1
    }

    @inlinable
    public func wake(_ channel: Int, all: Bool) {
        guard sleepers[channel] > 0 else { return }
        let rc = all ? pthread_cond_broadcast(conditions + channel) : pthread_cond_signal(conditions + channel)
        precondition(rc == 0, "pthread_cond_broadcast/signal failed: \(rc)")
    }

    @inlinable
    public func runCommit(coach: Int) -> Outcome {
        Outcome { try commitFunction(coach) }
    }
}

import CBatchCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The in-process home: the algorithm's state in ordinary memory, guarded by a private pthread
/// mutex, with one futex channel per wait channel (the futex condition of `FutexWait.swift`,
/// private futexes).
///
/// Not API: public (underscored) only so that ``Coordinator`` and ``Multi`` can be inlined.
public final class _LocalHome<Result>: _LocalOutcomes, _FutexHome, @unchecked Sendable {
    // @unchecked Sendable: every field is immutable; what they point to is read and written
    // under `mutex` (or atomically, the channel words), as each field says.
    public typealias Outcome = Swift.Result<Result, any Error>

    /// The algorithm's state, the lock and the outcomes. Allocated once; nothing moves.
    public let memory: _ProcessMemory<Outcome>
    /// The wait channels (enter, one per coach, section) and the wakes owed by the holder of
    /// `mutex`, issued by `unlock()`. Allocated once.
    public let futex: _FutexChannels
    /// The user's commit function, called with the coach. Immutable.
    @usableFromInline let commitFunction: @Sendable (_ coach: Int) throws -> Result

    public init(coaches count: Int, commit: @escaping @Sendable (_ coach: Int) throws -> Result) {
        memory = _ProcessMemory(coaches: count, what: "a coordinator")
        commitFunction = commit
        let channels = UnsafeMutablePointer<cbatch_channel>.allocate(capacity: 2 + count)
        channels.initialize(repeating: cbatch_channel(), count: 2 + count)
        let pendingWakes = UnsafeMutablePointer<UInt64>.allocate(capacity: 2)
        pendingWakes.initialize(repeating: 0, count: 2)
        futex = _FutexChannels(channels: channels, pendingWakes: pendingWakes, shared: false)
    }

    deinit {
        futex.pendingWakes.deallocate()
        futex.channels.deallocate()
        memory.deallocate()
    }

    @inlinable public func threadToken() -> UInt64 { cbatch_thread_token() }
    @inlinable public var sleepLimitNanos: Int64 { -1 }
    @inlinable public var yieldCapNanos: Int64 { .max }
    @inlinable public var sectionIsTheLock: Bool { true }

    @inlinable
    public func lock() {
        let rc = pthread_mutex_lock(mutex)
        precondition(rc == 0, "pthread_mutex_lock failed: \(rc)")
    }

    /// Releases the mutex, then issues the wakes owed: a thread woken while the waker still held
    /// the mutex would only block on it again.
    @inlinable @inline(__always)
    public func unlock() {
        let owed = futex.takeOwedWakes()
        let rc = pthread_mutex_unlock(mutex)
        precondition(rc == 0, "pthread_mutex_unlock failed: \(rc)")
        if let owed { futex.issueOwedWakes(owed) }
    }

    @inlinable public func wake(_ channel: Int, all: Bool) { futex.wake(channel, all: all) }

    @inlinable public func willWait(on channel: Int) {}
    @inlinable public func didWait(on channel: Int, sleptWholeLimit: Bool) {}

    @inlinable
    public func runCommit(coach: Int) -> Outcome {
        Outcome { try commitFunction(coach) }
    }
}

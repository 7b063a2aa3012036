import CBatchCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Not API: the wait channels of a blocking home as futex words (`cbatch_channel`, the "futex
/// condition"), and the wakes owed until the home's lock is released. The in-process home uses
/// private futexes; BatchIPC's shared-memory home keeps the words in its segment and uses
/// shared ones. Written once here for both: how to wake, how to yield while the wake is near,
/// how to sleep. What to wait for, and how long, is the engine's policy
/// (`Engine/WaitPolicy.swift`).
@frozen
public struct _FutexChannels: @unchecked Sendable {
    // @unchecked Sendable: the pointers never change; what they point to is touched under the
    // home's lock (sleeper counts, owed wakes) or atomically (the sequence words).
    /// `2 + coachCount` channels: 0 (waiting to enter), one per coach, and the section channel.
    public let channels: UnsafeMutablePointer<cbatch_channel>
    /// Wakes owed by the holder of the lock, issued right after it is released: word 0 wakes one,
    /// word 1 wakes all; bit n is channel n < 64. Read and written only by the lock's holder.
    public let pendingWakes: UnsafeMutablePointer<UInt64>
    /// 1 when the words are shared between processes (not `FUTEX_PRIVATE_FLAG`).
    public let shared: Int32

    @inlinable
    public init(
        channels: UnsafeMutablePointer<cbatch_channel>, pendingWakes: UnsafeMutablePointer<UInt64>, shared: Bool
    ) {
        self.channels = channels
        self.pendingWakes = pendingWakes
        self.shared = shared ? 1 : 0
    }

    /// Under the lock: bumps the channel's word and wakes its waiters — only when one may exist,
    /// so that an uncontended operation makes no system call. The bump happens now (a waiter that
    /// has not reached FUTEX_WAIT yet sees the word changed and does not sleep); the FUTEX_WAKE
    /// is owed and issued by ``issueOwedWakes(_:)`` once the lock is released (channels 64 and
    /// up: at once). Two owed "one"s of a channel wake one waiter: the waiters of a channel all
    /// re-check the same state.
    @inlinable @inline(__always)
    public func wake(_ channel: Int, all: Bool) {
        guard cbatch_channel_sleepers(channels + channel).pointee > 0 else { return }
        wakeWaiters(channel, all: all)
    }

    @inlinable
    func wakeWaiters(_ channel: Int, all: Bool) {
        let seq = cbatch_channel_seq(channels + channel)
        _ = cbatch_atomic_increment_u32(seq)
        if channel < 64 {
            pendingWakes[all ? 1 : 0] |= 1 << UInt64(channel)
        } else {
            cbatch_futex_wake(seq, all ? 1 : 0, shared)
        }
    }

    /// Under the lock: the wakes owed so far, forgotten here; `nil` when none (the common case).
    @inlinable @inline(__always)
    public func takeOwedWakes() -> (one: UInt64, all: UInt64)? {
        let one = pendingWakes[0]
        let all = pendingWakes[1]
        if one | all == 0 { return nil }
        pendingWakes[0] = 0
        pendingWakes[1] = 0
        return (one, all)
    }

    /// Not under the lock: FUTEX_WAKE for the channels of `owed` ("all" wins over "one").
    @inlinable
    public func issueOwedWakes(_ owed: (one: UInt64, all: UInt64)) {
        var bits = owed.one | owed.all
        while bits != 0 {
            let ch = bits.trailingZeroBitCount
            bits &= bits - 1
            cbatch_futex_wake(cbatch_channel_seq(channels + ch), owed.all & (1 << UInt64(ch)) != 0 ? 1 : 0, shared)
        }
    }

    /// Under the lock: the worker is about to wait on `channel`; its word's value now.
    @inlinable
    public func prepareWait(_ channel: Int) -> UInt32 {
        cbatch_channel_sleepers(channels + channel).pointee &+= 1  // a segment's word: it may be anything
        return cbatch_atomic_load_u32(cbatch_channel_seq(channels + channel))
    }

    /// Under the lock again, after a wait on `channel`.
    @inlinable
    public func endWait(_ channel: Int) {
        let sleepers = cbatch_channel_sleepers(channels + channel)
        if sleepers.pointee > 0 { sleepers.pointee -= 1 }
    }

    /// Not under the lock: spins, then yields the CPU, while the word of `channel` still holds
    /// `expected` (and, with `announced`, while it returns 0), until `deadline`. Returns whether
    /// it was woken. With more runnable workers than CPUs the yield runs the very workers the
    /// caller waits for, and a wake that comes meanwhile costs neither a sleep nor a wake-up.
    @inlinable
    func yield(_ channel: Int, _ expected: UInt32, until deadline: Int64, announced: (() -> Int)?) -> Bool {
        let seq = cbatch_channel_seq(channels + channel)
        // A wake a few hundred ns away (a short step of a worker on the other CPU) is cheaper to
        // spin for than a yield's system call: a few checks with pauses in between (~1 µs).
        for _ in 0..<32 {
            if cbatch_atomic_load_u32(seq) != expected { return true }
            if let announced, announced() > 0 { return true }
            for _ in 0..<4 { cbatch_cpu_relax() }
        }
        while true {
            if cbatch_atomic_load_u32(seq) != expected { return true }
            if let announced, announced() > 0 { return true }
            if cbatch_now_ns() >= deadline { return false }
            cbatch_yield()
        }
    }

    /// Not under the lock: sleeps while the word of `channel` holds `expected`, until `deadline`
    /// (`Int64.max`: none) and at most `limit` ns (< 0: none). Spurious returns are fine: the
    /// caller re-checks. Returns whether it slept the whole `limit` without a wake.
    @inlinable
    func sleep(_ channel: Int, _ expected: UInt32, until deadline: Int64, limit: Int64) -> Bool {
        var timeout = limit
        if deadline != .max {
            let left = deadline &- cbatch_now_ns()
            if left <= 0 { return false }
            timeout = timeout < 0 ? left : min(timeout, left)
        }
        let rc = cbatch_futex_wait(cbatch_channel_seq(channels + channel), expected, timeout, shared)
        return rc == ETIMEDOUT && timeout == limit
    }
}

/// Not API: a blocking home whose channels are ``_FutexChannels``. Its `wait` is written once
/// here: yield while the wake is near, then sleep.
public protocol _FutexHome: _BlockingHome {
    /// The home's channels.
    var futex: _FutexChannels { get }
    /// The longest a sleeper sleeps before it runs its step again (the shared-memory home's
    /// liveness period), -1 for no limit.
    var sleepLimitNanos: Int64 { get }
    /// Under the lock, before the caller releases it to wait on `channel`.
    func willWait(on channel: Int)
    /// Under the lock again, after waiting on `channel`; `sleptWholeLimit`: the sleep lasted
    /// ``sleepLimitNanos`` without a wake. When it throws, the lock is not held.
    func didWait(on channel: Int, sleptWholeLimit: Bool) throws(Failure)
}

extension _FutexHome {
    /// Under the lock: waits as `plan` says and takes the lock again: while the wake is expected
    /// soon (`plan.yieldUntil`) it spins a little, then yields the CPU; then it sleeps on the
    /// futex until woken, `plan.deadline`, or ``sleepLimitNanos``.
    @inlinable
    public func wait(_ plan: _Wait) throws(Failure) {
        let expected = futex.prepareWait(plan.channel)
        willWait(on: plan.channel)
        unlock()
        let woken =
            plan.yieldUntil != 0
            && futex.yield(
                plan.channel, expected, until: min(plan.yieldUntil, plan.deadline),
                announced: plan.untilAnnounced ? { self.queueLength } : nil)
        let sleptWholeLimit =
            !woken && futex.sleep(plan.channel, expected, until: plan.deadline, limit: sleepLimitNanos)
        try lock()
        futex.endWait(plan.channel)
        try didWait(on: plan.channel, sleptWholeLimit: sleptWholeLimit)
    }
}

import Batch
import CBatchCore
import CShmSync

#if canImport(Glibc)
    import Glibc
#endif

// The robust condition: one futex sequence word per wait channel (channel 0: waiting to enter;
// 1 + c: waiting in commit on coach c), and its yield-before-sleep policy. No pthread_cond_t: on
// this glibc a process-shared condition variable breaks for good once a waiting process is killed.
// A sleeper that is killed leaves nothing behind but its slot's `channel`, which crash repair
// discounts.

extension SharedSegment {
    @inlinable func seqP(_ channel: Int) -> UnsafeMutablePointer<UInt32> { cshm_channel_seq(channelsP + channel) }
    @inlinable func sleepersP(_ channel: Int) -> UnsafeMutablePointer<UInt32> {
        cshm_channel_sleepers(channelsP + channel)
    }

    /// Under the lock, by the worker in `slot`: sleeps on `channel` until a wake, or at most one
    /// liveness period, then retakes the lock and looks for dead participants — and, after a
    /// whole period without a wake, checks the tables (a state nobody can leave looks like that).
    ///
    /// When what it waits for is a few steps of other workers away (the engine's
    /// ``_BatchEngine/wakeIsNear(_:)``), it first yields the CPU, up to ``waitYields`` times and
    /// at most ``yieldBudget``, while the channel's word is unchanged.
    /// - Throws: ``SharedBatchError/corruptSegment(name:field:detail:)``; the lock is not held then.
    func wait(_ channel: Int, slot: Int) throws(SharedBatchError) {
        let seqWord = seqP(channel)
        let seq = cshm_atomic_load_u32(seqWord)
        sleepersP(channel).pointee &+= 1
        slotsP[slot].channel = Int32(channel)
        let budget = yieldBudgetNS.load(ordering: .relaxed)
        let near = budget > 0 && _BatchEngine(home: state).wakeIsNear(channel)
        unlock()
        var slept: Int32 = 0
        if !near || cshm_yield_until_changed(seqWord, seq, Self.waitYields, budget) == 0 {
            slept = cshm_futex_wait(seqWord, seq, livenessNS)
        }
        try lock()
        if let failure = waitingStopped {
            // Found corrupt, or detached (this slot may be another's by now): stop here.
            unlock()
            throw failure
        }
        if sleepersP(channel).pointee > 0 { sleepersP(channel).pointee -= 1 }
        slotsP[slot].channel = -1
        do throws(SharedBatchError) {
            try repair(ownerDied: false, check: slept == ETIMEDOUT)
        } catch {
            throw brokenUnlocking(error)
        }
    }

    /// How many times a waiter yields the CPU before it sleeps, when its wake is near. Group
    /// commit, 8 worker processes on 2 CPUs, interleaved medians: 16 yields on every wait +10-20 %
    /// ops/s over none; 256 on near waits only, 5-15 % more again (64 and 1024 no better).
    /// Bounded: on an idle machine 256 yields take well under a millisecond, and a worker that
    /// starts waiting while a commit function runs never yields. And at most ``yieldBudget`` long
    /// (1 ms by default, or a quarter of the liveness period if shorter): a yielding waiter does
    /// not look for dead participants, so the time bounds how much later than one liveness period
    /// a death can be noticed. 200 µs cut the group-commit gain by ~8 %.
    @usableFromInline static var waitYields: Int32 { 256 }

    /// Under the lock: bumps the channel's sequence and wakes its sleepers — only when one may
    /// exist, so an uncontended operation makes no system call.
    ///
    /// The bump happens now (a sleeper that has not reached FUTEX_WAIT yet sees the sequence
    /// changed and does not sleep); the FUTEX_WAKE itself is owed and issued by `unlock` right
    /// after the mutex is released, so that woken threads find it free. Several owed wakes of one
    /// channel merge (one "all" covers "one"; two "one"s wake one waiter: the waiters of a channel
    /// all re-check the same state). A holder that dies before unlocking issues nothing: its
    /// sleepers wake at the end of their liveness period and re-check, as after any crash.
    @inlinable @inline(__always)
    func wake(_ channel: Int, all: Bool) {
        guard sleepersP(channel).pointee > 0 else { return }
        wakeSleepers(channel, all: all)
    }

    @usableFromInline @inline(never)
    func wakeSleepers(_ channel: Int, all: Bool) {
        _ = cshm_atomic_add_u32(seqP(channel), 1)
        if channel < 64 {  // a Multi with 63 coaches or more: the others are woken at once
            pendingWakes[all ? 1 : 0] |= 1 << UInt64(channel)
        } else {
            cshm_futex_wake(seqP(channel), all ? 1 : 0)
        }
    }

    /// Not under the lock: FUTEX_WAKE for the channels of the two masks (all wins over one).
    @usableFromInline @inline(never)
    func issueWakes(one: UInt64, all: UInt64) {
        var bits = one | all
        while bits != 0 {
            let ch = bits.trailingZeroBitCount
            bits &= bits - 1
            cshm_futex_wake(seqP(ch), all & (1 << UInt64(ch)) != 0 ? 1 : 0)
        }
    }

    /// Under the lock: wakes every sleeper of every channel (after a crash repair: the restored
    /// state may be one they wait for, and a dead holder's owed wakes died with it).
    func wakeEveryone() {
        for ch in 0...coachCount { wake(ch, all: true) }
    }

    /// Under the lock: sleeper counts from the slots (a dead sleeper is no longer counted).
    func recomputeSleepers() {
        for ch in 0...coachCount { sleepersP(ch).pointee = 0 }
        for s in 0..<slotHigh where slotsP[s].proc != 0 {
            let ch = Int(slotsP[s].channel)
            if ch >= 0 && ch <= coachCount { sleepersP(ch).pointee &+= 1 }
        }
    }
}

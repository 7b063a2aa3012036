import Batch
import CBatchCore
import CShmSync

// The segment's wait channels: the futex condition of Batch (`_FutexChannels`, shared futexes on
// words in the segment) — no pthread_cond_t: on this glibc a process-shared condition variable
// breaks for good once a waiting process is killed. How long to yield before sleeping is the
// engine's waiting policy, capped per process by `yieldBudget`; every sleep is bounded by the
// liveness period, after which the sleeper looks for dead participants. A sleeper that is killed
// leaves nothing behind but its slot's `channel`, which crash repair discounts.

extension SharedSegment {
    /// Under the lock again, by the worker in `slot` back from a wait: stops if the segment was
    /// found corrupt or this process detached meanwhile (the slot may be another's by now) —
    /// unlocking —, else clears the slot's channel and looks for dead participants; after a whole
    /// liveness period without a wake (`check`) it also checks the tables (a state nobody can
    /// leave looks like that). When it throws, the lock is not held.
    func afterWait(slot: Int, check: Bool) throws(SharedBatchError) {
        if let failure = waitingStopped {
            givesUp(failure)  // queued, or inside a batch, it stays counted there
            unlock()
            throw failure
        }
        slotsP[slot].channel = -1
        do throws(SharedBatchError) {
            try repair(ownerDied: false, check: check)
        } catch {
            throw brokenUnlocking(error)
        }
    }

    /// Under the lock: bumps the channel's word and owes its sleepers a wake (see
    /// `_FutexChannels.wake`), issued by `unlock` once the mutex is released. A holder that dies
    /// before unlocking issues nothing: its sleepers wake at the end of their liveness period.
    @inlinable @inline(__always)
    func wake(_ channel: Int, all: Bool) { futex.wake(channel, all: all) }

    /// Under the lock: wakes every sleeper of every channel (after a crash repair: the restored
    /// state may be one they wait for, and a dead holder's owed wakes died with it).
    func wakeEveryone() {
        for ch in 0...coachCount + 1 { wake(ch, all: true) }
    }

    /// Under the lock: sleeper counts from the slots (a dead sleeper is no longer counted).
    func recomputeSleepers() {
        for ch in 0...coachCount + 1 { cbatch_channel_sleepers(futex.channels + ch).pointee = 0 }
        for s in 0..<slotHigh where slotsP[s].proc != 0 {
            let ch = Int(slotsP[s].channel)
            if ch >= 0 && ch <= coachCount + 1 { cbatch_channel_sleepers(futex.channels + ch).pointee &+= 1 }
        }
    }
}

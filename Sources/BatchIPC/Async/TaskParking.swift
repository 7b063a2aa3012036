import Batch
import CBatchCore
import CShmSync

#if canImport(Glibc)
    import Glibc
#endif

/// Where the suspended tasks of this process wait on a segment's channels: one thread per
/// segment and process (the *parking thread*) sleeps on every channel a task of this process
/// waits on — with `futex_waitv`, on the channels' words and on a private doorbell — and resumes
/// the tasks whose channel was woken, whose deadline passed, or (every liveness period) after
/// it looked for dead participants. No thread of the cooperative pool ever sleeps on a futex.
///
/// Why one thread and no more: a task's wait is a record (channel, the word's value when it
/// parked, deadline), not a thread; one `futex_waitv` covers up to 127 channels at once, and a
/// wake on any of them resumes the tasks of that channel in this process. It holds no lock while
/// it sleeps and never holds the segment's mutex or a liveness lease (trap 3 of a robust mutex:
/// a thread that may exit must not own one): it takes the mutex only for the liveness check,
/// like any worker.
///
/// Waking: on a channel woken since a task parked, every task of this process parked there
/// resumes and runs its step again — except on the section channel, whose wakes are meant for
/// one taker (``_BatchEngine/passOnSection()``): there the task that parked first resumes, and
/// the others wait for the next wake.
final class TaskParking: @unchecked Sendable {
    // @unchecked Sendable: `state` is guarded by its own lock; the doorbell word is atomic; the
    // rest is immutable. The thread is joined in `stop()`.

    /// A suspended task.
    struct Parked {
        let id: UInt64
        let channel: Int
        /// The channel word's value when the task parked (read under the segment's mutex, after
        /// its step decided to wait): it waits while the word still holds it.
        var seq: UInt32
        let deadline: Int64
        let cancellable: Bool
        let continuation: UnsafeContinuation<Bool, Never>
    }

    struct State {
        /// In the order the tasks parked.
        var parked: [Parked] = []
        var nextID: UInt64 = 1
        var stopping = false
        /// This process stopped using the segment (found corrupt, or closed): no task parks any
        /// more; each resumes at once, runs its step again, and finds why.
        var stopped = false
    }

    let state = ProcessLock(State())
    /// Bumped (then FUTEX_WAKE, private) when a task parks or `stop()` is called, so that the
    /// thread looks at `state` again. Process memory.
    let doorbell: UnsafeMutablePointer<UInt32>
    /// The segment's channels (futex words in the mapping) and how many.
    let channels: UnsafeMutablePointer<cbatch_channel>
    let channelCount: Int
    /// The channel whose wakes are for one taker.
    let sectionChannel: Int
    let livenessNS: Int64
    /// Takes the segment's mutex, looks for dead participants, repairs, releases it. Returns
    /// whether this process stopped waiting on the segment (``SharedSegment/waitingStopped``).
    let checkLiveness: @Sendable () -> Bool
    private var thread = pthread_t()
    /// The most words one `futex_waitv` takes (FUTEX_WAITV_MAX).
    static let waitvLimit = 128

    init(
        channels: UnsafeMutablePointer<cbatch_channel>, coaches: Int, livenessNS: Int64,
        checkLiveness: @escaping @Sendable () -> Bool
    ) {
        self.channels = channels
        self.channelCount = _BatchEngine<_SegmentState>.channelCount(coaches: coaches)
        self.sectionChannel = channelCount - 1
        self.livenessNS = max(1_000_000, livenessNS)
        self.checkLiveness = checkLiveness
        doorbell = .allocate(capacity: 1)
        doorbell.initialize(to: 0)
        let box = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(
            &thread, nil,
            { raw in
                let me = Unmanaged<TaskParking>.fromOpaque(raw!).takeRetainedValue()
                me.run()
                return nil
            }, box)
        precondition(rc == 0, "pthread_create (the parking thread of a segment) failed: \(rc)")
    }

    deinit { doorbell.deallocate() }

    /// Resumes every parked task (they run their steps again and find what changed) and ends
    /// the thread. From `SharedSegment.close()`.
    func stop() {
        state.withLock { $0.stopping = true }
        ring()
        pthread_join(thread, nil)
    }

    private func ring() {
        _ = cbatch_atomic_increment_u32(doorbell)
        cbatch_futex_wake(doorbell, 0, 0)
    }

    /// Suspends the calling task until its channel is woken after it read `seq` (under the
    /// segment's mutex), until `deadline` (monotonic ns; `Int64.max`: none), or — when
    /// `cancellable` — until the task is cancelled. Returns false when it ended on cancellation.
    func park(channel: Int, seq: UInt32, deadline: Int64, cancellable: Bool) async -> Bool {
        let id = state.withLock { s -> UInt64 in
            defer { s.nextID &+= 1 }
            return s.nextID
        }
        func suspend(_ continuation: UnsafeContinuation<Bool, Never>) {
            let parked = state.withLock { s -> Bool in
                if s.stopping || s.stopped || (cancellable && Task.isCancelled) { return false }
                s.parked.append(
                    Parked(
                        id: id, channel: channel, seq: seq, deadline: deadline, cancellable: cancellable,
                        continuation: continuation))
                return true
            }
            if parked {
                ring()
            } else {
                continuation.resume(returning: !(cancellable && Task.isCancelled))
            }
        }
        if !cancellable { return await withUnsafeContinuation(suspend) }
        return await withTaskCancellationHandler {
            await withUnsafeContinuation(suspend)
        } onCancel: {
            let found = state.withLock { s -> UnsafeContinuation<Bool, Never>? in
                guard let i = s.parked.firstIndex(where: { $0.id == id }) else { return nil }
                return s.parked.remove(at: i).continuation
            }
            found?.resume(returning: false)
        }
    }

    /// The thread.
    private func run() {
        var nextCheck = cbatch_now_ns() &+ livenessNS
        var words: [UnsafeMutablePointer<UInt32>] = []
        var expected: [UInt32] = []
        var privateFlags: [UInt8] = []
        while true {
            let now = cbatch_now_ns()
            var due: [UnsafeContinuation<Bool, Never>] = []
            words.removeAll(keepingCapacity: true)
            expected.removeAll(keepingCapacity: true)
            privateFlags.removeAll(keepingCapacity: true)
            var wakeAt = Int64.max
            let (stop, anyParked) = state.withLock { s -> (Bool, Bool) in
                words.append(doorbell)
                expected.append(cbatch_atomic_load_u32(doorbell))
                privateFlags.append(1)
                if s.stopping || s.stopped {
                    due = s.parked.map(\.continuation)
                    s.parked.removeAll()
                    return (s.stopping, false)
                }
                var sectionTaken = false
                var kept: [Parked] = []
                kept.reserveCapacity(s.parked.count)
                for var p in s.parked {
                    let current = cbatch_atomic_load_u32(cbatch_channel_seq(channels + p.channel))
                    if current != p.seq {
                        if p.channel != sectionChannel || !sectionTaken {
                            sectionTaken = sectionTaken || p.channel == sectionChannel
                            due.append(p.continuation)
                            continue
                        }
                        p.seq = current  // the section's wake went to an earlier task
                    } else if p.deadline <= now {
                        due.append(p.continuation)
                        continue
                    }
                    kept.append(p)
                    wakeAt = min(wakeAt, p.deadline)
                    let word = cbatch_channel_seq(channels + p.channel)
                    if words.count < Self.waitvLimit && !words.contains(word) {
                        words.append(word)
                        expected.append(p.seq)
                        privateFlags.append(0)
                    } else if !words.contains(word) {
                        wakeAt = min(wakeAt, now &+ 1_000_000)  // more channels than one wait covers: poll
                    }
                }
                s.parked = kept
                return (false, !kept.isEmpty)
            }
            for continuation in due { continuation.resume(returning: true) }
            if stop { return }
            if !due.isEmpty { continue }  // look again: the resumed tasks may have parked anew
            if anyParked {
                if now >= nextCheck {
                    // Stopped (by this check, or since by any thread of this process): nothing
                    // the parked tasks wait for will come; they resume and find why.
                    if checkLiveness() { state.withLock { $0.stopped = true } }
                    nextCheck = cbatch_now_ns() &+ livenessNS
                    continue
                }
                wakeAt = min(wakeAt, nextCheck)
            } else {
                nextCheck = now &+ livenessNS
                wakeAt = now &+ 3_600_000_000_000
            }
            let rc = words.withUnsafeBufferPointer { w in
                expected.withUnsafeBufferPointer { e in
                    privateFlags.withUnsafeBufferPointer { f in
                        cshm_futex_waitv(w.baseAddress!, e.baseAddress!, f.baseAddress!, Int32(w.count), wakeAt)
                    }
                }
            }
            if rc == -ENOSYS {
                // A kernel older than 5.16: poll.
                var ts = timespec(tv_sec: 0, tv_nsec: 1_000_000)
                nanosleep(&ts, nil)
            }
        }
    }
}

/// Not API: the logical critical section of an async home and its waiters. Every field is read
/// and written only with the home's mutex held.
@usableFromInline
struct _AsyncSectionState<Outcome> {
    /// True iff a task owns the logical critical section — including a task that was handed it
    /// and whose continuation is about to be resumed. Invariant: while `owned` is false and
    /// tasks wait for the section, `woken` > 0 (a release frees the section and wakes the first
    /// waiter, or hands it the section: ``_WaitPolicy/sectionRelease(firstWaited:firstWasWoken:woken:wokenWaited:)``;
    /// a woken task that finds the section owned waits first in line again).
    @usableFromInline var owned = false
    /// Tasks resumed with ``_Resumed/retry`` that have not tried for the section yet (0 or 1).
    /// While one has not, a release wakes nobody else: one wake in flight at a time, as in a
    /// futex mutex.
    @usableFromInline var woken = 0
    /// Since when the woken task has waited for the section (when `woken` is 1).
    @usableFromInline var wokenSince: Int64 = 0
    /// The section is owned for the woken task, which has waited the hand-off bound: it takes it
    /// when it tries (running tasks that never suspend could otherwise keep it from ever running
    /// while it is in no queue).
    @usableFromInline var reservedForWoken = false
    /// Tasks parked for the section (from `sectionHead` on): first those woken from a channel,
    /// in the order they were woken, then those that came for it, oldest first (a task woken to
    /// try for it that finds it taken goes back first among these). Each is resumed with
    /// `.section` when it is handed the section, or with `.retry` to try for it
    /// (`_AsyncHome.handOff()`).
    @usableFromInline var sectionWaiters: [_SectionWaiter<Outcome>] = []
    /// The first of `sectionWaiters` still waiting; the ones before it were resumed.
    @usableFromInline var sectionHead = 0
    /// Per channel (0: waiting to enter; 1 + c: waiting in commit on coach c), the tasks parked
    /// there; they do not own the section. `wake` moves them to `sectionWaiters`;
    /// `wakePublished` releases those of a published coach.
    @usableFromInline var channels: [[_SectionWaiter<Outcome>]]
    /// Per coach, tasks released from its published batch that have not exited yet.
    @usableFromInline var released: [Int]
    /// Continuations to resume, and how, once the mutex is released, so that no continuation is
    /// resumed under the mutex.
    @usableFromInline var pending: [(UnsafeContinuation<_Resumed<Outcome>, Never>, _Resumed<Outcome>)] = []
    /// The earliest deadline a timer task is scheduled to fire at, `Int64.max` for none.
    @usableFromInline var alarmAt = Int64.max

    @inlinable
    init(coaches: Int) {
        channels = Array(repeating: [], count: 2 + coaches)
        released = Array(repeating: 0, count: coaches)
    }

    /// Nobody waits for anything.
    @inlinable
    var isIdle: Bool { sectionWaiterCount == 0 && channels.allSatisfy(\.isEmpty) }

    @inlinable
    var sectionWaiterCount: Int { sectionWaiters.count - sectionHead }

    /// Queues `waiter`, which came for the section at `now`, last.
    @inlinable
    mutating func queueForSection(_ waiter: _SectionWaiter<Outcome>, now: Int64) {
        var waiter = waiter
        waiter.since = now
        waiter.wokenOn = -1
        sectionWaiters.append(waiter)
    }

    /// Queues `waiters`, woken on `channel` at `now`, after the tasks woken on a channel before
    /// them and ahead of every task that merely came for the section: each is handed the
    /// section in turn, and decides before those.
    @inlinable
    mutating func queueWoken(_ waiters: some Collection<_SectionWaiter<Outcome>>, now: Int64, on channel: Int) {
        sectionWaiters.insert(
            contentsOf: waiters.map { waiter in
                var waiter = waiter
                waiter.since = now
                waiter.wokenOn = channel
                return waiter
            }, at: cameForSectionStart)
    }

    /// Queues `waiter` again first among the tasks that came for the section (after those woken
    /// on a channel): it was woken to try for the section and another task took it first. It
    /// keeps the time it has waited since.
    @inlinable
    mutating func requeueFirst(_ waiter: _SectionWaiter<Outcome>) {
        let at = cameForSectionStart
        if at == sectionHead && sectionHead > 0 {
            sectionHead -= 1
            sectionWaiters[sectionHead] = waiter
        } else {
            sectionWaiters.insert(waiter, at: at)
        }
    }

    /// Where the tasks that came for the section start in the queue: after those woken on a
    /// channel, which are always first.
    @inlinable
    var cameForSectionStart: Int {
        var i = sectionHead
        while i < sectionWaiters.count && sectionWaiters[i].wokenOn >= 0 { i += 1 }
        return i
    }

    /// The first task waiting for the section, left in the queue.
    @inlinable
    var firstForSection: _SectionWaiter<Outcome>? {
        sectionHead < sectionWaiters.count ? sectionWaiters[sectionHead] : nil
    }

    /// Takes out of the section's queue the tasks woken on `channel` (the others keep their
    /// order). Tasks woken on a channel are always first in the queue (``queueWoken(_:now:on:)``):
    /// only that part is looked at, not the tasks that came for the section behind it.
    @inlinable
    mutating func takeWoken(on channel: Int) -> [_SectionWaiter<Outcome>] {
        let woken = sectionHead..<cameForSectionStart
        guard sectionWaiters[woken].contains(where: { $0.wokenOn == channel }) else { return [] }
        let taken = sectionWaiters[woken].filter { $0.wokenOn == channel }
        sectionWaiters.replaceSubrange(woken, with: sectionWaiters[woken].filter { $0.wokenOn != channel })
        return taken
    }

    /// The first task waiting for the section, taken out of the queue.
    @inlinable
    mutating func nextForSection() -> _SectionWaiter<Outcome>? {
        guard sectionHead < sectionWaiters.count else { return nil }
        let next = sectionWaiters[sectionHead]
        sectionHead += 1
        if sectionHead == sectionWaiters.count {
            sectionWaiters.removeAll(keepingCapacity: true)
            sectionHead = 0
        } else if sectionHead >= 64 && sectionHead * 2 >= sectionWaiters.count {
            sectionWaiters.removeFirst(sectionHead)  // keep the queue from growing without bound
            sectionHead = 0
        }
        return next
    }

    /// The waiter `id`, taken out of whichever list it is in, if its wait is cancellable.
    @inlinable
    mutating func removeCancellable(_ id: UInt64) -> UnsafeContinuation<_Resumed<Outcome>, Never>? {
        if let i = sectionWaiters[sectionHead...].firstIndex(where: { $0.id == id && $0.cancellable }) {
            return sectionWaiters.remove(at: i).continuation
        }
        for ch in channels.indices {
            if let i = channels[ch].firstIndex(where: { $0.id == id && $0.cancellable }) {
                return channels[ch].remove(at: i).continuation
            }
        }
        return nil
    }
}

/// Not API: how a suspended task is resumed.
public enum _Resumed<Outcome> {
    /// Handed the logical section: run the step again.
    case section
    /// Woken to try for the section, which is free now (a running task may take it first); it
    /// has waited for it since `since`.
    case retry(since: Int64)
    /// Its cancellable wait was cancelled: it does not own the section.
    case cancelled
    /// Its batch was published while it waited in commit: read the outcome, exit.
    case released
    /// Its batch was published and its exit counted for it: here is the outcome.
    case exited(Outcome)
}

extension _Resumed: Sendable where Outcome: Sendable {}

/// Not API: a task suspended in an async home. Its continuation is resumed exactly once: by
/// whoever takes it out of the home's lists under the mutex (a hand-off, a release, a
/// cancellation handler), or by its own task when it does not park at all.
@usableFromInline
struct _SectionWaiter<Outcome> {
    @usableFromInline let id: UInt64
    @usableFromInline let continuation: UnsafeContinuation<_Resumed<Outcome>, Never>
    /// When to wake it even if nobody does (monotonic ns), `Int64.max` for never.
    @usableFromInline let deadline: Int64
    /// Whether task cancellation ends its wait.
    @usableFromInline let cancellable: Bool
    /// When it started waiting for the section (monotonic ns; set when it is queued for it).
    @usableFromInline var since: Int64 = 0
    /// The channel it was woken on, -1 when it came for the section: a task woken on a channel
    /// is handed the section in turn (no task that merely came for the section goes first).
    @usableFromInline var wokenOn = -1
    /// Waiting in commit with nothing left to do once the outcome is out: released, its exit is
    /// counted by the publisher and the outcome handed to it.
    @usableFromInline let exitsWhenReleased: Bool

    @inlinable
    init(
        id: UInt64, continuation: UnsafeContinuation<_Resumed<Outcome>, Never>, deadline: Int64, cancellable: Bool,
        exitsWhenReleased: Bool = false
    ) {
        self.id = id
        self.continuation = continuation
        self.deadline = deadline
        self.cancellable = cancellable
        self.exitsWhenReleased = exitsWhenReleased
    }
}

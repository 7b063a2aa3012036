import CBatchCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Not API: the in-process async home: the algorithm's state in ordinary memory, a private
/// pthread mutex held only while a step runs, and a logical critical section whose waiters are
/// continuations. No thread is ever parked by this home.
///
/// Every mutable field below is read and written only with `mutex` held.
public final class _AsyncHome<Result: Sendable>: _AsyncBatchHome, _LocalOutcomes {
    /// What the commit function produced: its result or its error.
    public typealias Outcome = Swift.Result<Result, any Error>

    /// The algorithm's state, the real lock (held only while a step runs) and the outcomes.
    public let memory: _ProcessMemory<Outcome>
    /// The logical section and its waiters, in memory the class does not own, so that accesses
    /// carry no dynamic exclusivity check. Read and written only with `mutex` held.
    @usableFromInline let state: UnsafeMutablePointer<_AsyncSectionState<Outcome>>
    /// Names waits, so that a cancellation handler can find its waiter. Any thread, atomic.
    @usableFromInline let nextWaiter = Atomic<UInt64>(1)
    /// Who has the section, for tasks that spin before they park (``spinWhileOwned()``):
    /// ``sectionFree``, ``sectionRunning`` (a task took it and runs) or ``sectionHandedOver`` (a
    /// parked task was handed it and has not run yet: a spinner would only keep a thread from
    /// it). Written with `mutex` held wherever `state.owned` changes, and by a task handed the
    /// section once it runs (it owns the section: nobody else writes the hint meanwhile); read
    /// without the mutex. A hint only: whoever takes the section decides under the mutex.
    @usableFromInline let sectionHint = Atomic<UInt8>(0)
    @usableFromInline static var sectionFree: UInt8 { 0 }
    @usableFromInline static var sectionRunning: UInt8 { 1 }
    @usableFromInline static var sectionHandedOver: UInt8 { 2 }
    /// The user's commit function, called with the coach, unless ``commitOfNothing`` is set.
    /// Immutable.
    @usableFromInline let commitFunction: @Sendable (_ coach: Int) async throws -> Result
    /// The user's commit function of a one-coach home, called as it is: a closure around it, to
    /// drop the coach, cost each commit two async frames and an executor check more (callgrind:
    /// about 5 % of an uncontended `AsyncCoordinator` op). Immutable.
    @usableFromInline let commitOfNothing: (@Sendable () async throws -> Result)?

    /// A home with `count` coaches whose batches are committed by `commit` (called with the coach).
    public convenience init(coaches count: Int, commit: @escaping @Sendable (_ coach: Int) async throws -> Result) {
        self.init(coaches: count, commit, ofNothing: nil)
    }

    /// A home with one coach whose batches are committed by `commit`.
    public convenience init(commit: @escaping @Sendable () async throws -> Result) {
        self.init(coaches: 1, { _ in try await commit() }, ofNothing: commit)  // runCommit calls `commit`
    }

    init(
        coaches count: Int, _ commit: @escaping @Sendable (_ coach: Int) async throws -> Result,
        ofNothing: (@Sendable () async throws -> Result)?
    ) {
        memory = _ProcessMemory(coaches: count, what: "an async coordinator")
        commitFunction = commit
        commitOfNothing = ofNothing
        state = .allocate(capacity: 1)
        state.initialize(to: _AsyncSectionState(coaches: count))
    }

    deinit {
        precondition(state.pointee.isIdle, "an async coordinator was released while tasks were suspended in it")
        state.deinitialize(count: 1).deallocate()
        memory.deallocate()
    }

    /// The calling *task*: in this home the critical section belongs to a task, which may resume
    /// on any thread. 0 outside a task (never a holder, so misuse from there traps).
    @inlinable
    public func threadToken() -> UInt64 { _currentTask() }

    /// Every task has a seat here: its own token.
    @inlinable
    public func takeSeat(task: UInt64) -> UInt64? { task }

    /// Every task has a seat here (``takeSeat(task:)`` never says `nil`).
    @inlinable
    nonisolated(nonsending) public func waitForSeat(task: UInt64) async throws -> UInt64 { task }

    /// Nothing to give back.
    @inlinable
    public func returnSeat(_ token: UInt64) {}

    /// Takes the mutex (the real one, not the logical section).
    @inlinable
    public func lock() {
        let rc = pthread_mutex_lock(mutex)
        precondition(rc == 0, "pthread_mutex_lock failed: \(rc)")
    }

    /// Releases the mutex, then resumes the tasks that were handed the section or released
    /// meanwhile (no continuation is resumed under the mutex).
    @inlinable
    public func unlock() {
        if state.pointee.pending.isEmpty {
            let rc = pthread_mutex_unlock(mutex)
            precondition(rc == 0, "pthread_mutex_unlock failed: \(rc)")
            return
        }
        var resumed: [(UnsafeContinuation<_Resumed<Outcome>, Never>, _Resumed<Outcome>)] = []
        swap(&resumed, &state.pointee.pending)
        let rc = pthread_mutex_unlock(mutex)
        precondition(rc == 0, "pthread_mutex_unlock failed: \(rc)")
        for (continuation, how) in resumed { continuation.resume(returning: how) }
    }

    /// Under the mutex: moves the tasks parked on `channel` (all, or the first) to the section's
    /// waiters, to be handed the section in turn — what they waited for changed, and each decides
    /// anew before any task that merely came for the section (the waiting policy relies on it:
    /// the committer woken when its predecessor's commit ends decides before the workers that
    /// commit served come back); if nobody owns the section, hands it to the first of them.
    @inlinable
    public func wake(_ channel: Int, all: Bool) {
        if state.pointee.channels[channel].isEmpty { return }
        let now = cbatch_now_ns()
        if all {
            state.pointee.queueWoken(state.pointee.channels[channel], now: now, on: channel)
            state.pointee.channels[channel].removeAll(keepingCapacity: true)
        } else {
            state.pointee.queueWoken(
                CollectionOfOne(state.pointee.channels[channel].removeFirst()), now: now, on: channel)
        }
        if !state.pointee.owned { handOff() }
    }

    /// Under the mutex: the batch of `coach` is published. Its waiters need neither the section
    /// nor another step: they are released — resumed when the mutex is released, each to read
    /// the outcome and exit — instead of being handed the section one by one; so are those
    /// woken on its channel that wait for the section to run their step again. Those that have
    /// nothing left to do (`exitsWhenReleased`) get the outcome itself; returns how many, whose
    /// exits the engine counts now.
    @inlinable
    public func wakePublished(coach: Int) -> Int {
        let channel = 1 + coach
        var exited = 0
        if !state.pointee.channels[channel].isEmpty {
            for waiter in state.pointee.channels[channel] { release(waiter, coach: coach, exited: &exited) }
            state.pointee.channels[channel].removeAll(keepingCapacity: true)
        }
        if state.pointee.sectionWaiterCount > 0 {
            for waiter in state.pointee.takeWoken(on: channel) { release(waiter, coach: coach, exited: &exited) }
        }
        return exited
    }

    /// Under the mutex: `waiter`, of the published batch of `coach`, is released (see
    /// ``wakePublished(coach:)``); `exited` counts those handed the outcome outright.
    @inlinable
    func release(_ waiter: _SectionWaiter<Outcome>, coach: Int, exited: inout Int) {
        if waiter.exitsWhenReleased {
            exited += 1
            state.pointee.pending.append((waiter.continuation, .exited(outcomes[coach]!)))
        } else {
            state.pointee.released[coach] += 1
            state.pointee.pending.append((waiter.continuation, .released))
        }
    }

    /// Under the mutex, section given up (or not owned): frees it, hands it to the first parked
    /// task, or keeps it for the woken one, as
    /// ``_WaitPolicy/sectionRelease(firstWaited:firstWasWoken:woken:wokenWaited:)`` says.
    @inlinable
    func handOff() {
        let now = cbatch_now_ns()
        let first = state.pointee.firstForSection
        switch _WaitPolicy.sectionRelease(
            firstWaited: first.map { now &- $0.since }, firstWasWoken: (first?.wokenOn ?? -1) >= 0,
            woken: state.pointee.woken, wokenWaited: now &- state.pointee.wokenSince)
        {
        case .keepForWoken:
            state.pointee.owned = true
            state.pointee.reservedForWoken = true
            sectionHint.store(Self.sectionHandedOver, ordering: .relaxed)
        case .handOver:
            _ = state.pointee.nextForSection()
            state.pointee.owned = true
            sectionHint.store(Self.sectionHandedOver, ordering: .relaxed)
            state.pointee.pending.append((first!.continuation, .section))
        case .freeAndWake:
            _ = state.pointee.nextForSection()
            state.pointee.woken += 1
            state.pointee.wokenSince = first!.since
            state.pointee.pending.append((first!.continuation, .retry(since: first!.since)))
            fallthrough
        case .free:
            state.pointee.owned = false
            sectionHint.store(Self.sectionFree, ordering: .relaxed)
        }
    }

    /// Under the mutex, by the section's owner: hands the section to the first waiter, or frees it.
    @inlinable
    public func giveUpSection() {
        precondition(state.pointee.owned, "the async critical section was released without being owned")
        handOff()
    }

    /// Under the mutex: takes the section if nobody owns it.
    @inlinable
    func tryAcquire() -> Bool {
        if state.pointee.owned { return false }
        state.pointee.owned = true
        sectionHint.store(Self.sectionRunning, ordering: .relaxed)
        return true
    }

    /// Not under the mutex, by a task that found the section taken by another task, with no
    /// task parked for it: waits for a running owner to release it, up to
    /// ``_WaitPolicy/sectionSpinNanos``, instead of parking at once. Such an owner most likely
    /// runs on another thread through a step or a section that does not suspend, and releases
    /// it within a microsecond or so; a parked task costs a resume that often wakes a sleeping
    /// pool thread (a futex wake and a context switch: 5–25 µs here). Returns whether the
    /// section was seen free (the caller then tries to take it); `false` at once when it is
    /// handed to a task that has not run yet.
    @inlinable
    func spinWhileOwned() -> Bool {
        let deadline = cbatch_now_ns() &+ _WaitPolicy.sectionSpinNanos
        while true {
            for _ in 0..<16 {
                switch sectionHint.load(ordering: .relaxed) {
                case Self.sectionFree: return true
                case Self.sectionRunning: cbatch_cpu_relax()
                default: return false
                }
            }
            if cbatch_now_ns() >= deadline { return false }
        }
    }

    @inlinable
    public func releasedResult(coach: Int) throws -> Result { try result(coach: coach) }

    @inlinable
    public func markReleased(coach: Int) { state.pointee.released[coach] += 1 }

    @inlinable
    public func takeReleasedExit(coach: Int) -> Bool {
        guard state.pointee.released[coach] > 0 else { return false }
        state.pointee.released[coach] -= 1
        return true
    }

    public func parkedCount(channel: Int?) -> Int {
        lock()
        defer { unlock() }
        if let channel { return state.pointee.channels[channel].count }
        return state.pointee.sectionWaiterCount
    }

    /// Any thread, not under the mutex: the task of waiter `id` was cancelled. If it is still
    /// parked in a cancellable wait, take it out and resume it as cancelled; otherwise it was
    /// already resumed (or is not parked yet, and will see the cancellation when it parks).
    @usableFromInline
    func cancelWaiter(_ id: UInt64) {
        lock()
        let found = state.pointee.removeCancellable(id)
        unlock()
        found?.resume(returning: .cancelled)
    }

    /// Under the mutex: a waiter parked with `deadline` must be woken then even if nobody wakes
    /// it: makes sure a timer task fires by then.
    @usableFromInline
    func armAlarm(_ deadline: Int64) {
        guard deadline < state.pointee.alarmAt else { return }
        state.pointee.alarmAt = deadline
        let delay = UInt64(max(0, deadline &- cbatch_now_ns()))
        Task { [self] in
            try? await Task.sleep(nanoseconds: delay)
            fireAlarm()
        }
    }

    /// Not under the mutex: per channel, wakes the first waiter whose deadline passed — it runs
    /// its step again, and the waiters of a channel all check the same state — and arms the next
    /// alarm.
    func fireAlarm() {
        lock()
        state.pointee.alarmAt = .max
        let now = cbatch_now_ns()
        var next = Int64.max
        for channel in state.pointee.channels.indices {
            if let due = state.pointee.channels[channel].firstIndex(where: { $0.deadline <= now }) {
                state.pointee.queueWoken(
                    CollectionOfOne(state.pointee.channels[channel].remove(at: due)), now: now, on: channel)
            }
            // Waiters also past their deadline wait for the one woken: it decides for the batch.
            for waiter in state.pointee.channels[channel] where waiter.deadline > now && waiter.deadline != .max {
                next = min(next, waiter.deadline)
            }
        }
        if !state.pointee.owned { handOff() }
        if next != .max { armAlarm(next) }
        unlock()
    }

    @inlinable
    nonisolated(nonsending) public func drive<T>(
        owned alreadyOwned: Bool, cancellable: Bool, me: UInt64, _ step: () -> _SectionStep<T>
    ) async -> _Driven<T, Result> {
        var mine = alreadyOwned
        // Fast path, no continuation: the section is free (or ours) and the step does not wait.
        // Taken by another task, with no task parked for it: once more after a short spin.
        for attempt in 0..<2 {
            lock()
            if mine || tryAcquire() {
                mine = true
                switch step() {
                case .keep(let value):
                    unlock()
                    return .done(value)
                case .release(let value):
                    giveUpSection()
                    unlock()
                    return .done(value)
                case .wait:
                    break  // run the step again below, atomically with parking
                }
            }
            let spin = !mine && attempt == 0 && state.pointee.sectionWaiterCount == 0
            unlock()
            if !spin || !spinWhileOwned() { break }
        }
        // Woken to try for the section (``_Resumed/retry``) and not yet tried: since when it waits.
        var retrySince: Int64? = nil
        while true {
            var done: _SectionStep<T>? = nil
            let id = nextWaiter.add(1, ordering: .relaxed).newValue
            func body(_ continuation: UnsafeContinuation<_Resumed<Outcome>, Never>) {
                self.lock()
                // A woken task tries now: the next release may wake another. The section may have
                // been kept for it.
                if retrySince != nil {
                    self.state.pointee.woken -= 1
                    if self.state.pointee.reservedForWoken {
                        self.state.pointee.reservedForWoken = false
                        mine = true
                        self.sectionHint.store(Self.sectionRunning, ordering: .relaxed)
                    }
                }
                if mine || self.tryAcquire() {
                    mine = true
                    let next = step()
                    switch next {
                    case .keep:
                        done = next
                    case .release:
                        done = next
                        self.giveUpSection()
                    case .wait(let channel, let deadline, let waitIsCancellable, let exitsWhenReleased):
                        mine = false
                        self.giveUpSection()
                        if waitIsCancellable && Task.isCancelled {
                            self.unlock()
                            continuation.resume(returning: .cancelled)
                            return
                        }
                        self.state.pointee.channels[channel].append(
                            _SectionWaiter(
                                id: id, continuation: continuation, deadline: deadline,
                                cancellable: waitIsCancellable, exitsWhenReleased: exitsWhenReleased))
                        if deadline != .max { self.armAlarm(deadline) }
                        self.unlock()
                        return
                    }
                    self.unlock()
                    continuation.resume(returning: .section)
                    return
                }
                if cancellable && Task.isCancelled {
                    self.unlock()
                    continuation.resume(returning: .cancelled)
                    return
                }
                // The section is owned (tryAcquire failed): its release wakes or hands it on.
                let waiter = _SectionWaiter(
                    id: id, continuation: continuation, deadline: .max, cancellable: cancellable)
                if let since = retrySince {
                    var again = waiter
                    again.since = since
                    self.state.pointee.requeueFirst(again)
                } else {
                    self.state.pointee.queueForSection(waiter, now: cbatch_now_ns())
                }
                self.unlock()
            }
            let resumed: _Resumed<Outcome>
            if cancellable {
                resumed = await withTaskCancellationHandler {
                    await withUnsafeContinuation(body)
                } onCancel: {
                    self.cancelWaiter(id)
                }
            } else {
                resumed = await withUnsafeContinuation(body)
            }
            if let done {
                switch done {
                case .keep(let value), .release(let value): return .done(value)
                case .wait: break
                }
            }
            retrySince = nil
            switch resumed {
            case .cancelled: return .cancelled
            case .released: return .released
            case .exited(let outcome): return .exited(outcome)
            case .section:
                // Handed the section: it runs now (a spinner may wait for it); run the step again.
                mine = true
                sectionHint.store(Self.sectionRunning, ordering: .relaxed)
            case .retry(let since): retrySince = since  // try for the section again
            }
        }
    }

    /// Runs the user's async commit function of `coach` and captures what it produced.
    @inlinable @inline(__always)
    nonisolated(nonsending) public func runCommit(coach: Int) async -> Outcome {
        do {
            if let commit = commitOfNothing { return .success(try await commit()) }
            return .success(try await commitFunction(coach))
        } catch {
            return .failure(error)
        }
    }
}

/// Sound because `state` is touched only with `mutex` held, and `core`, `coaches` and `outcomes`
/// only by the owner of the logical section with the mutex held (see each field).
extension _AsyncHome: @unchecked Sendable {}

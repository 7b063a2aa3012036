import CBatchCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Not API: a home whose waiters are suspended tasks, not sleeping threads. The async driver
/// (`AsyncDriver.swift`) runs the engine's steps through ``drive(owned:cancellable:_:)``.
///
/// In such a home the critical section is a *logical* lock (an ownership flag and a FIFO of
/// suspended tasks), because a task may `await` inside it and resume on another thread. The real
/// mutex (``_WorkerHome/lock()``/``_WorkerHome/unlock()``) is held only for the microseconds a step
/// takes, never across an `await`. "Under the lock" for an engine step therefore means: the
/// caller owns the logical section *and* holds the mutex.
public protocol _AsyncBatchHome: _WorkerHome
where Result: Sendable, Outcome == Swift.Result<Result, any Error>, Failure == Never {
    /// Runs `step` under the mutex while the caller owns the logical section; acquires the
    /// section first unless `owned`. When the step says ``_SectionStep/wait(channel:)``, the
    /// caller gives up the section and is suspended on that channel, atomically with the step;
    /// when it is woken (``_BatchState/wake(_:all:)``) it owns the section again and `step` runs
    /// again.
    ///
    /// - Parameter cancellable: whether task cancellation ends a wait (for the section, or on a
    ///   channel). A cancelled wait returns `nil`: the caller does not own the section.
    /// - Returns: the value of the step that ended the drive (`.keep`: the caller owns the
    ///   section; `.release`: it does not), or `nil` when a cancellable wait was cancelled.
    nonisolated(nonsending) func drive<T>(owned: Bool, cancellable: Bool, _ step: () -> _SectionStep<T>) async -> T?

    /// Under the mutex, by the owner of the logical section: gives it up, to the first task
    /// waiting for it (resumed when the mutex is released) or to nobody.
    func giveUpSection()

    /// Not under the mutex nor the section: runs the async commit function of `coach`.
    nonisolated(nonsending) func runCommit(coach: Int) async -> Outcome
}

/// Not API: what an engine step run by ``_AsyncBatchHome/drive(owned:cancellable:_:)`` asks for.
public enum _SectionStep<T> {
    /// Done; the caller keeps the logical section.
    case keep(T)
    /// Done; the caller gives up the logical section.
    case release(T)
    /// Give up the section, suspend on `channel`, and run the step again once woken.
    case wait(channel: Int)
}

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
    @usableFromInline let state: UnsafeMutablePointer<_AsyncSectionState>
    /// Names waits, so that a cancellation handler can find its waiter. Any thread, atomic.
    @usableFromInline let nextWaiter = Atomic<UInt64>(1)
    /// The user's commit function, called with the coach. Immutable.
    @usableFromInline let commitFunction: @Sendable (_ coach: Int) async throws -> Result

    /// A home with `count` coaches whose batches are committed by `commit` (called with the coach).
    public init(coaches count: Int, commit: @escaping @Sendable (_ coach: Int) async throws -> Result) {
        memory = _ProcessMemory(coaches: count, what: "an async coordinator")
        commitFunction = commit
        state = .allocate(capacity: 1)
        state.initialize(to: _AsyncSectionState(channels: 1 + count))
    }

    deinit {
        precondition(
            state.pointee.sectionWaiters.isEmpty && state.pointee.channels.allSatisfy(\.isEmpty),
            "an async coordinator was released while tasks were suspended in it")
        state.deinitialize(count: 1).deallocate()
        memory.deallocate()
    }

    /// The calling *task*: in this home the critical section belongs to a task, which may resume
    /// on any thread. 0 outside a task (never a holder, so misuse from there traps).
    @inlinable
    public func threadToken() -> UInt64 {
        // The task's address: unique among live tasks, and never 0.
        withUnsafeCurrentTask { task in
            guard let task else { return 0 }
            return UInt64(UInt(bitPattern: unsafeBitCast(task, to: Int.self)))
        }
    }

    /// Releases the mutex, then resumes the tasks that were handed the section meanwhile.
    @inlinable
    public func unlock() {
        if state.pointee.pending.isEmpty {
            let rc = pthread_mutex_unlock(mutex)
            precondition(rc == 0, "pthread_mutex_unlock failed: \(rc)")
            return
        }
        var resumed: [UnsafeContinuation<Bool, Never>] = []
        swap(&resumed, &state.pointee.pending)
        let rc = pthread_mutex_unlock(mutex)
        precondition(rc == 0, "pthread_mutex_unlock failed: \(rc)")
        for continuation in resumed { continuation.resume(returning: true) }
    }

    /// Under the mutex: moves the tasks parked on `channel` (all, or the first) to the section's
    /// waiters; if nobody owns the section, hands it to the first of them.
    @inlinable
    public func wake(_ channel: Int, all: Bool) {
        if state.pointee.channels[channel].isEmpty { return }
        if all {
            state.pointee.sectionWaiters.append(contentsOf: state.pointee.channels[channel])
            state.pointee.channels[channel].removeAll(keepingCapacity: true)
        } else {
            state.pointee.sectionWaiters.append(state.pointee.channels[channel].removeFirst())
        }
        if !state.pointee.owned { handOff() }
    }

    /// Under the mutex, section not owned: hands it to the first waiter, if any.
    @inlinable
    func handOff() {
        if state.pointee.sectionWaiters.isEmpty {
            state.pointee.owned = false
        } else {
            state.pointee.owned = true
            state.pointee.pending.append(state.pointee.sectionWaiters.removeFirst().continuation)
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
        return true
    }

    /// Under the mutex: parks a waiter (on `channel`, or for the section when `nil`).
    @inlinable
    func park(_ waiter: _SectionWaiter, channel: Int?) {
        if let channel {
            state.pointee.channels[channel].append(waiter)
        } else {
            state.pointee.sectionWaiters.append(waiter)
        }
    }

    /// Not under the mutex: how many tasks are parked on `channel`, or wait for the section when
    /// `channel` is `nil`. For tests and diagnostics; the answer may be stale at once.
    func parkedCount(channel: Int?) -> Int {
        lock()
        defer { unlock() }
        if let channel { return state.pointee.channels[channel].count }
        return state.pointee.sectionWaiters.count
    }

    /// Any thread, not under the mutex: the task of waiter `id` was cancelled. If it is still
    /// parked (on a channel, or for the section), take it out and resume it with `false`;
    /// otherwise it was already handed the section (or is not parked yet, and will see the
    /// cancellation when it parks).
    @usableFromInline
    func cancelWaiter(_ id: UInt64) {
        lock()
        var found: UnsafeContinuation<Bool, Never>?
        if let i = state.pointee.sectionWaiters.firstIndex(where: { $0.id == id }) {
            found = state.pointee.sectionWaiters.remove(at: i).continuation
        } else {
            for ch in state.pointee.channels.indices {
                if let i = state.pointee.channels[ch].firstIndex(where: { $0.id == id }) {
                    found = state.pointee.channels[ch].remove(at: i).continuation
                    break
                }
            }
        }
        unlock()
        found?.resume(returning: false)
    }

    @inlinable
    nonisolated(nonsending) public func drive<T>(
        owned alreadyOwned: Bool, cancellable: Bool, _ step: () -> _SectionStep<T>
    ) async -> T? {
        var mine = alreadyOwned
        // Fast path, no continuation: the section is free (or ours) and the step does not wait.
        lock()
        if mine || tryAcquire() {
            mine = true
            switch step() {
            case .keep(let value):
                unlock()
                return value
            case .release(let value):
                giveUpSection()
                unlock()
                return value
            case .wait:
                break  // run the step again below, atomically with parking
            }
        }
        unlock()
        while true {
            var done: _SectionStep<T>? = nil
            let id = nextWaiter.add(1, ordering: .relaxed).newValue
            func body(_ continuation: UnsafeContinuation<Bool, Never>) {
                self.lock()
                if mine || self.tryAcquire() {
                    mine = true
                    let next = step()
                    switch next {
                    case .keep:
                        done = next
                    case .release:
                        done = next
                        self.giveUpSection()
                    case .wait(let channel):
                        mine = false
                        self.giveUpSection()
                        if cancellable && Task.isCancelled {
                            self.unlock()
                            continuation.resume(returning: false)
                            return
                        }
                        self.park(_SectionWaiter(id: id, continuation: continuation), channel: channel)
                        self.unlock()
                        return
                    }
                    self.unlock()
                    continuation.resume(returning: true)
                    return
                }
                if cancellable && Task.isCancelled {
                    self.unlock()
                    continuation.resume(returning: false)
                    return
                }
                self.park(_SectionWaiter(id: id, continuation: continuation), channel: nil)
                self.unlock()
            }
            let handed: Bool
            if cancellable {
                handed = await withTaskCancellationHandler {
                    await withUnsafeContinuation(body)
                } onCancel: {
                    self.cancelWaiter(id)
                }
            } else {
                handed = await withUnsafeContinuation(body)
            }
            switch done {
            case .keep(let value)?, .release(let value)?:
                return value
            case .wait?, nil:
                if !handed { return nil }
                mine = true  // woken with the section: run the step again
            }
        }
    }

    /// Runs the user's async commit function of `coach` and captures what it produced.
    @inlinable
    nonisolated(nonsending) public func runCommit(coach: Int) async -> Outcome {
        do {
            return .success(try await commitFunction(coach))
        } catch {
            return .failure(error)
        }
    }
}

/// Sound because `state` is touched only with `mutex` held, and `core`, `coaches` and `outcomes`
/// only by the owner of the logical section with the mutex held (see each field).
extension _AsyncHome: @unchecked Sendable {}

/// Not API: the logical critical section of an async home and its waiters. Every field is read
/// and written only with the home's mutex held.
@usableFromInline
struct _AsyncSectionState {
    /// True iff a task owns the logical critical section — including a task that was handed it
    /// and whose continuation is about to be resumed. Invariant: `sectionWaiters` is empty
    /// whenever `owned` is false (a release hands the section to the first waiter).
    @usableFromInline var owned = false
    /// Tasks waiting to own the section, first come first served: tasks that want to enter, and
    /// tasks woken from a channel. Each is resumed with `true` when it is handed the section.
    @usableFromInline var sectionWaiters: [_SectionWaiter] = []
    /// Per channel (0: waiting to enter; 1 + c: waiting in commit on coach c), the tasks parked
    /// there; they do not own the section. `wake` moves them to `sectionWaiters`.
    @usableFromInline var channels: [[_SectionWaiter]]
    /// Continuations handed the section under the mutex, resumed (with `true`) by `unlock()`
    /// once the mutex is released, so that no continuation is resumed under the mutex.
    @usableFromInline var pending: [UnsafeContinuation<Bool, Never>] = []

    @inlinable
    init(channels: Int) { self.channels = Array(repeating: [], count: channels) }
}

/// Not API: a task suspended in an async home. Its continuation is resumed exactly once: by
/// whoever takes it out of the home's lists under the mutex (a hand-off resumes it with `true`,
/// a cancellation handler with `false`), or by its own task when it does not park at all.
@usableFromInline
struct _SectionWaiter {
    @usableFromInline let id: UInt64
    @usableFromInline let continuation: UnsafeContinuation<Bool, Never>

    @inlinable
    init(id: UInt64, continuation: UnsafeContinuation<Bool, Never>) {
        self.id = id
        self.continuation = continuation
    }
}

import Batch
import CBatchCore
import CShmSync

/// The participant seats of this process's tasks in a segment. A blocking worker is a thread
/// with a slot of the participant table for its life; a task takes a slot — a *seat* — when it
/// enters and gives it back when it exits, so that hundreds of tasks can take turns on a table
/// sized for the workers that are inside at once. The slot records the task's phase (crash
/// repair reads it) and the channel it waits on (the sleeper counts are recomputed from it).
///
/// Seats given back are kept for the next task of this process, up to ``idleKept``; beyond
/// that they go back to the table for other processes. When the table is full, a task waits
/// for a seat of this process to come back — or, when this process holds none, fails at once
/// with `participantTableFull` (nothing of this process could free one).
final class TaskSeats: @unchecked Sendable {
    // @unchecked Sendable: `state` is guarded by its lock; `segment` owns this object.

    /// How many unused seats a process keeps.
    static let idleKept = 8

    enum Wait {
        case seat(UInt64)
        case cancelled
        case tableFull
    }

    struct State {
        /// Tokens of slots this process claimed that no task uses.
        var idle: [UInt64] = []
        /// The seat of each task that has one, and the task of each seat in use.
        var byTask: [UInt64: UInt64] = [:]
        var taskOf: [UInt64: UInt64] = [:]
        /// Tasks waiting for a seat, first come first served.
        var waiters: [(id: UInt64, task: UInt64, continuation: UnsafeContinuation<Wait, Never>)] = []
        var nextID: UInt64 = 1
    }

    let state = ProcessLock(State())
    unowned(unsafe) let segment: SharedSegment

    init(segment: SharedSegment) { self.segment = segment }

    /// The seat of `task`, if it has one. Any thread.
    func token(ofTask task: UInt64) -> UInt64? { state.withLock { $0.byTask[task] } }

    /// A seat for `task`: an unused one of this process, or a slot claimed from the table; `nil`
    /// when the table is full.
    func take(task: UInt64) throws(SharedBatchError) -> UInt64? {
        let kept = state.withLock { s -> UInt64? in
            if let token = s.byTask[task] { return token }
            guard let token = s.idle.popLast() else { return nil }
            s.byTask[task] = token
            s.taskOf[token] = task
            return token
        }
        if let kept { return kept }
        try segment.lock()
        let claimed: (slot: Int, token: UInt64)?
        do throws(SharedBatchError) {
            claimed = try segment.claimSlot()
        } catch {
            throw segment.brokenUnlocking(error)
        }
        segment.unlock()
        guard let (_, token) = claimed else { return nil }
        state.withLock { s in
            s.byTask[task] = token
            s.taskOf[token] = task
        }
        return token
    }

    /// Suspends `task` until a seat of this process comes back.
    /// - Throws: `CancellationError`; ``SharedBatchError/participantTableFull(capacity:)`` when
    ///   this process holds no seat (none can come back).
    func wait(task: UInt64) async throws -> UInt64 {
        let id = state.withLock { s -> UInt64 in
            defer { s.nextID &+= 1 }
            return s.nextID
        }
        let outcome = await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Wait, Never>) in
                let now = state.withLock { s -> Wait? in
                    if Task.isCancelled { return .cancelled }
                    if let token = s.idle.popLast() {
                        s.byTask[task] = token
                        s.taskOf[token] = task
                        return .seat(token)
                    }
                    if s.taskOf.isEmpty { return .tableFull }
                    s.waiters.append((id, task, continuation))
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let found = state.withLock { s -> UnsafeContinuation<Wait, Never>? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i).continuation
            }
            found?.resume(returning: .cancelled)
        }
        switch outcome {
        case .seat(let token): return token
        case .cancelled: throw CancellationError()
        case .tableFull: throw SharedBatchError.participantTableFull(capacity: segment.slotCount)
        }
    }

    /// The task of seat `token` left: the seat goes to the first waiting task, is kept, or goes
    /// back to the table.
    func give(back token: UInt64) {
        let (waiter, release) = state.withLock { s -> (UnsafeContinuation<Wait, Never>?, Bool) in
            if let task = s.taskOf.removeValue(forKey: token) { s.byTask[task] = nil }
            if !s.waiters.isEmpty {
                let next = s.waiters.removeFirst()
                s.byTask[next.task] = token
                s.taskOf[token] = next.task
                return (next.continuation, false)
            }
            if s.idle.count < Self.idleKept {
                s.idle.append(token)
                return (nil, false)
            }
            return (nil, true)
        }
        waiter?.resume(returning: .seat(token))
        guard release, (try? segment.lock()) != nil else { return }
        // Only an idle seat goes back (every caller returns one after its exit, or one that never
        // entered): crash repair relies on a freed slot having been idle.
        if let slot = segment.slot(ofToken: token, below: segment.slotHigh),
            segment.slotsP[slot].proc == UInt32(segment.myProc.load(ordering: .relaxed) + 1),
            cshm_atomic_load_u32(&segment.slotsP[slot].phase) == WorkerPhase.idle.rawValue
        {
            segment.freeSlot(slot)
        }
        segment.unlock()
    }
}

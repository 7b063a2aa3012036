import BatchTestSupport
import Synchronization
import Testing

// Task cancellation in each phase (docs/ASYNC.md): queued, waiting for the section, waiting to
// enter, inside, waiting for the commit, and the committer itself. Every step is driven by a
// condition the test observes (a gate's waiters, a channel's parked tasks), never by a sleep.
@testable import Batch

@Suite struct AsyncCancellationTests {
    /// Makes a coordinator whose commit function records and returns the batch's items, after
    /// waiting for `commitGate` when one is given.
    func makeCoordinator(
        _ state: AsyncItems, _ ledger: AsyncLedger, commitGate: AsyncGate? = nil,
        sawCancellation: AsyncFlags? = nil
    ) -> AsyncCoordinator<[Int]> {
        AsyncCoordinator<[Int]> {
            if let commitGate { await commitGate.wait() }
            sawCancellation?.append(Task.isCancelled)
            try Task.checkCancellation()
            return ledger.record(state.items)
        }
    }

    /// Adds `item` through the safe API and commits.
    func add(_ item: Int, _ state: AsyncItems, _ coordinator: AsyncCoordinator<[Int]>) async throws -> [Int] {
        try await coordinator.batch { section in
            if section.isFirst { state.items.removeAll() }
            state.items.append(item)
            return try await section.commit()
        }
    }

    /// Queued: announced (ticket taken), preparing its data. Cancelled there, it gets
    /// `CancellationError` when it tries to enter, its body never runs, and the worker that was
    /// waiting in commit for it is released and commits without it.
    @Test(.timeLimit(.minutes(1)))
    func cancelledWhileQueued() async throws {
        let state = AsyncItems()
        let ledger = AsyncLedger()
        let coordinator = makeCoordinator(state, ledger)
        let prepare = AsyncGate()
        let late = Task { () async throws -> [Int] in
            let ticket = coordinator.ticket()
            await prepare.wait()
            return try await ticket.enter { section in
                Issue.record("the body of a cancelled worker ran")
                state.items.append(99)
                return try await section.commit()
            }
        }
        await awaitCondition("the late worker is announced") { prepare.waiting == 1 }
        #expect(coordinator.queueLength == 1)
        let first = Task { try await add(1, state, coordinator) }
        await awaitCondition("the first worker waits in commit for the late one") {
            coordinator.waitingInCommit() == 1
        }
        late.cancel()
        prepare.open()
        await #expect(throws: CancellationError.self) { try await late.value }
        #expect(try await first.value == [1])
        #expect(coordinator.queueLength == 0)
        #expect(ledger.all == [[1]])
    }

    /// Queued, suspended waiting for the critical section that another task holds (it awaits
    /// inside). Cancelled: `CancellationError` at once, without waiting for the holder; the holder
    /// then commits alone.
    @Test(.timeLimit(.minutes(1)))
    func cancelledWhileWaitingForTheSection() async throws {
        let state = AsyncItems()
        let ledger = AsyncLedger()
        let coordinator = makeCoordinator(state, ledger)
        let inside = AsyncGate()
        let holder = Task {
            try await coordinator.batch { section in
                if section.isFirst { state.items.removeAll() }
                state.items.append(1)
                await inside.wait()  // holds the section while suspended
                return try await section.commit()
            }
        }
        await awaitCondition("the holder is inside") { inside.waiting == 1 }
        let late = Task { try await add(2, state, coordinator) }
        await awaitCondition("the late worker waits for the section") { coordinator.waitingForSection == 1 }
        #expect(coordinator.queueLength == 1)
        late.cancel()
        await #expect(throws: CancellationError.self) { try await late.value }
        #expect(coordinator.waitingForSection == 0)
        #expect(coordinator.queueLength == 0)
        inside.open()
        #expect(try await holder.value == [1])
        #expect(ledger.all == [[1]])
    }

    /// Waiting to enter while the batch commits. Cancelled: `CancellationError`, the queue is
    /// corrected, the committing batch is untouched and the next batch works.
    @Test(.timeLimit(.minutes(1)))
    func cancelledWhileWaitingToEnter() async throws {
        let state = AsyncItems()
        let ledger = AsyncLedger()
        let commitGate = AsyncGate()
        let coordinator = makeCoordinator(state, ledger, commitGate: commitGate)
        let committer = Task { try await add(1, state, coordinator) }
        await awaitCondition("the commit function runs") { commitGate.waiting == 1 }
        let late = Task { try await add(2, state, coordinator) }
        await awaitCondition("the late worker waits to enter") { coordinator.waitingToEnter == 1 }
        #expect(coordinator.queueLength == 1)  // waiting to enter still counts as coming
        late.cancel()
        await #expect(throws: CancellationError.self) { try await late.value }
        #expect(coordinator.waitingToEnter == 0)
        #expect(coordinator.queueLength == 0)
        commitGate.open()
        #expect(try await committer.value == [1])
        #expect(try await add(3, state, coordinator) == [3])
        #expect(ledger.all == [[1], [3]])
    }

    /// Inside the section (entered, data added, before commit). Cancelled: nothing changes for
    /// anyone; the cancelled worker commits as usual and gets the batch's result.
    @Test(.timeLimit(.minutes(1)))
    func cancelledInside() async throws {
        let state = AsyncItems()
        let ledger = AsyncLedger()
        let coordinator = makeCoordinator(state, ledger)
        let inside = AsyncGate()
        let worker = Task { () async throws -> ([Int], Bool) in
            let batch = try await coordinator.batch { section in
                if section.isFirst { state.items.removeAll() }
                state.items.append(1)
                await inside.wait()
                return try await section.commit()
            }
            return (batch, Task.isCancelled)
        }
        await awaitCondition("the worker is inside") { inside.waiting == 1 }
        let other = Task { try await add(2, state, coordinator) }
        await awaitCondition("the other worker waits for the section") { coordinator.waitingForSection == 1 }
        worker.cancel()
        inside.open()
        let (batch, wasCancelled) = try await worker.value
        #expect(batch == [1, 2])
        #expect(wasCancelled)
        #expect(try await other.value == [1, 2])
        #expect(ledger.all == [[1, 2]])
    }

    /// Waiting for the commit (its data is in the batch), and then the committer itself while the
    /// commit function runs. Neither cancellation reaches the batch: the commit function runs
    /// shielded (it does not see the committer's cancellation) and both get the batch's result.
    @Test(.timeLimit(.minutes(1)))
    func cancelledWhileWaitingForTheCommitAndWhileCommitting() async throws {
        let state = AsyncItems()
        let ledger = AsyncLedger()
        let commitGate = AsyncGate()
        let saw = AsyncFlags()
        let coordinator = makeCoordinator(state, ledger, commitGate: commitGate, sawCancellation: saw)
        let prepare = AsyncGate()
        let committer = Task { () async throws -> [Int] in
            let ticket = coordinator.ticket()
            await prepare.wait()
            return try await ticket.enter { section in
                state.items.append(2)
                return try await section.commit()
            }
        }
        await awaitCondition("the committer-to-be is announced") { prepare.waiting == 1 }
        let waiter = Task { try await add(1, state, coordinator) }
        await awaitCondition("the first worker waits in commit") { coordinator.waitingInCommit() == 1 }
        waiter.cancel()
        prepare.open()
        await awaitCondition("the commit function runs") { commitGate.waiting == 1 }
        committer.cancel()
        commitGate.open()
        #expect(try await waiter.value == [1, 2])
        #expect(try await committer.value == [1, 2])
        #expect(saw.values == [false])
        #expect(ledger.all == [[1, 2]])
    }

    /// A batch of one: the commit function runs in the worker's own task, so that worker's
    /// cancellation is visible to it (here it throws `CancellationError`, which is the batch's
    /// outcome: the worker learns that its item was not saved). Nobody else is affected.
    @Test(.timeLimit(.minutes(1)))
    func cancelledCommitterOfABatchOfOne() async throws {
        let state = AsyncItems()
        let ledger = AsyncLedger()
        let commitGate = AsyncGate()
        let coordinator = makeCoordinator(state, ledger, commitGate: commitGate)
        let alone = Task { try await add(1, state, coordinator) }
        await awaitCondition("the commit function runs") { commitGate.waiting == 1 }
        alone.cancel()
        commitGate.open()
        await #expect(throws: CancellationError.self) { try await alone.value }
        #expect(try await add(2, state, coordinator) == [2])
        #expect(ledger.all == [[2]])
    }

    /// Many tasks, a third of them cancelled at random moments: exact accounting. A task either
    /// got `CancellationError` (and its item is in no batch) or a batch that contains its item;
    /// every committed item belongs to exactly one batch; the queue ends empty.
    @Test(.timeLimit(.minutes(1)))
    func cancellationStorm() async throws {
        let state = AsyncItems()
        let ledger = AsyncLedger()
        let coordinator = AsyncCoordinator<[Int]> {
            await Task.yield()
            return ledger.record(state.items)
        }
        let tasks = 240
        let handles = (0..<tasks).map { item in
            Task { () async throws -> [Int] in
                let ticket = coordinator.ticket()
                await Task.yield()
                return try await ticket.enter { section in
                    if section.isFirst { state.items.removeAll() }
                    state.items.append(item)
                    return try await section.commit()
                }
            }
        }
        for (i, handle) in handles.enumerated() where i % 3 == 0 { handle.cancel() }
        await ledger.expectStormAccounted(handles)
        #expect(coordinator.queueLength == 0)
    }
}

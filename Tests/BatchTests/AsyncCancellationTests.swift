import BatchTestSupport
import Synchronization
import Testing

// Task cancellation in each phase (docs/ASYNC.md): queued, waiting for the section, waiting to
// enter, inside, waiting for the commit, and the committer itself — for every async home. Every
// step is driven by a condition the test observes (a gate's waiters, a channel's parked tasks),
// never by a sleep. A batch's result is its number in the ledger (the shared-memory home's
// results are plain values); the ledger has its items.
@testable import Batch

@Suite struct AsyncCancellationTests {
    /// What a test shares with its coordinator's commit function.
    final class Fixture: Sendable {
        let state = AsyncItems()
        let ledger = AsyncLedger()
        let commitGate: AsyncGate?
        let saw = AsyncFlags()

        init(gated: Bool = false) { commitGate = gated ? AsyncGate() : nil }

        /// A coordinator of `home` whose commit function waits for the commit gate (if any),
        /// notes whether it sees a cancellation, throws on one, and records the batch.
        func coordinator(_ home: AsyncTestHome) -> any AsyncBatchCoordinator<Int> {
            home.makeCoordinator { [self] in
                if let commitGate { await commitGate.wait() }
                saw.append(Task.isCancelled)
                try Task.checkCancellation()
                return ledger.recordIndex(state.items)
            }
        }

        /// Adds `item` through the safe API and commits; the batch's items.
        func add<C: AsyncBatchCoordinator<Int>>(_ item: Int, _ coordinator: C) async throws -> [Int] {
            let batch = try await coordinator.batch { section in
                if section.isFirst { state.items.removeAll() }
                state.items.append(item)
                return try await section.commit()
            }
            return ledger.all[batch]
        }
    }

    /// Queued: announced (ticket taken), preparing its data. Cancelled there, it gets
    /// `CancellationError` when it tries to enter, its body never runs, and the worker that was
    /// waiting in commit for it is released and commits without it.
    @Test(.timeLimit(.minutes(1)), arguments: AsyncTestHome.allCases)
    func cancelledWhileQueued(_ home: AsyncTestHome) async throws {
        let f = Fixture()
        try await queued(f, f.coordinator(home))
    }

    func queued<C: AsyncBatchCoordinator<Int>>(_ f: Fixture, _ coordinator: C) async throws {
        let prepare = AsyncGate()
        let late = Task { () async throws -> Int in
            let ticket = coordinator.ticket()
            await prepare.wait()
            return try await ticket.enter { section in
                Issue.record("the body of a cancelled worker ran")
                f.state.items.append(99)
                return try await section.commit()
            }
        }
        await awaitCondition("the late worker is announced") { prepare.waiting == 1 }
        #expect(coordinator.queueLength == 1)
        let first = Task { try await f.add(1, coordinator) }
        await awaitCondition("the first worker waits in commit for the late one") {
            coordinator.waitingInCommit() == 1
        }
        late.cancel()
        prepare.open()
        await #expect(throws: CancellationError.self) { try await late.value }
        #expect(try await first.value == [1])
        #expect(coordinator.queueLength == 0)
        #expect(f.ledger.all == [[1]])
    }

    /// Queued, suspended waiting for the critical section that another task holds (it awaits
    /// inside). Cancelled: `CancellationError` at once, without waiting for the holder; the holder
    /// then commits alone.
    @Test(.timeLimit(.minutes(1)), arguments: AsyncTestHome.allCases)
    func cancelledWhileWaitingForTheSection(_ home: AsyncTestHome) async throws {
        let f = Fixture()
        try await waitingForTheSection(f, f.coordinator(home))
    }

    func waitingForTheSection<C: AsyncBatchCoordinator<Int>>(_ f: Fixture, _ coordinator: C) async throws {
        let inside = AsyncGate()
        let holder = Task { () async throws -> [Int] in
            let batch = try await coordinator.batch { section in
                if section.isFirst { f.state.items.removeAll() }
                f.state.items.append(1)
                await inside.wait()  // holds the section while suspended
                return try await section.commit()
            }
            return f.ledger.all[batch]
        }
        await awaitCondition("the holder is inside") { inside.waiting == 1 }
        let late = Task { try await f.add(2, coordinator) }
        await awaitCondition("the late worker waits for the section") { coordinator.waitingForSection == 1 }
        #expect(coordinator.queueLength == 1)
        late.cancel()
        await #expect(throws: CancellationError.self) { try await late.value }
        #expect(coordinator.waitingForSection == 0)
        #expect(coordinator.queueLength == 0)
        inside.open()
        #expect(try await holder.value == [1])
        #expect(f.ledger.all == [[1]])
    }

    /// Waiting to enter while the batch commits. Cancelled: `CancellationError`, the queue is
    /// corrected, the committing batch is untouched and the next batch works.
    @Test(.timeLimit(.minutes(1)), arguments: AsyncTestHome.allCases)
    func cancelledWhileWaitingToEnter(_ home: AsyncTestHome) async throws {
        let f = Fixture(gated: true)
        try await waitingToEnter(f, f.coordinator(home))
    }

    func waitingToEnter<C: AsyncBatchCoordinator<Int>>(_ f: Fixture, _ coordinator: C) async throws {
        let commitGate = try #require(f.commitGate)
        let committer = Task { try await f.add(1, coordinator) }
        await awaitCondition("the commit function runs") { commitGate.waiting == 1 }
        let late = Task { try await f.add(2, coordinator) }
        await awaitCondition("the late worker waits to enter") { coordinator.waitingToEnter == 1 }
        #expect(coordinator.queueLength == 1)  // waiting to enter still counts as coming
        late.cancel()
        await #expect(throws: CancellationError.self) { try await late.value }
        #expect(coordinator.waitingToEnter == 0)
        #expect(coordinator.queueLength == 0)
        commitGate.open()
        #expect(try await committer.value == [1])
        #expect(try await f.add(3, coordinator) == [3])
        #expect(f.ledger.all == [[1], [3]])
    }

    /// Inside the section (entered, data added, before commit). Cancelled: nothing changes for
    /// anyone; the cancelled worker commits as usual and gets the batch's result.
    @Test(.timeLimit(.minutes(1)), arguments: AsyncTestHome.allCases)
    func cancelledInside(_ home: AsyncTestHome) async throws {
        let f = Fixture()
        try await inside(f, f.coordinator(home))
    }

    func inside<C: AsyncBatchCoordinator<Int>>(_ f: Fixture, _ coordinator: C) async throws {
        let inside = AsyncGate()
        let worker = Task { () async throws -> ([Int], Bool) in
            let batch = try await coordinator.batch { section in
                if section.isFirst { f.state.items.removeAll() }
                f.state.items.append(1)
                await inside.wait()
                return try await section.commit()
            }
            return (f.ledger.all[batch], Task.isCancelled)
        }
        await awaitCondition("the worker is inside") { inside.waiting == 1 }
        let other = Task { try await f.add(2, coordinator) }
        await awaitCondition("the other worker waits for the section") { coordinator.waitingForSection == 1 }
        worker.cancel()
        inside.open()
        let (batch, wasCancelled) = try await worker.value
        #expect(batch == [1, 2])
        #expect(wasCancelled)
        #expect(try await other.value == [1, 2])
        #expect(f.ledger.all == [[1, 2]])
    }

    /// Waiting for the commit (its data is in the batch), and then the committer itself while the
    /// commit function runs. Neither cancellation reaches the batch: the commit function runs
    /// shielded (it does not see the committer's cancellation) and both get the batch's result.
    @Test(.timeLimit(.minutes(1)), arguments: AsyncTestHome.allCases)
    func cancelledWhileWaitingForTheCommitAndWhileCommitting(_ home: AsyncTestHome) async throws {
        let f = Fixture(gated: true)
        try await waitingForTheCommit(f, f.coordinator(home))
    }

    func waitingForTheCommit<C: AsyncBatchCoordinator<Int>>(_ f: Fixture, _ coordinator: C) async throws {
        let commitGate = try #require(f.commitGate)
        let prepare = AsyncGate()
        let committer = Task { () async throws -> [Int] in
            let ticket = coordinator.ticket()
            await prepare.wait()
            let batch = try await ticket.enter { section in
                f.state.items.append(2)
                return try await section.commit()
            }
            return f.ledger.all[batch]
        }
        await awaitCondition("the committer-to-be is announced") { prepare.waiting == 1 }
        let waiter = Task { try await f.add(1, coordinator) }
        await awaitCondition("the first worker waits in commit") { coordinator.waitingInCommit() == 1 }
        waiter.cancel()
        prepare.open()
        await awaitCondition("the commit function runs") { commitGate.waiting == 1 }
        committer.cancel()
        commitGate.open()
        #expect(try await waiter.value == [1, 2])
        #expect(try await committer.value == [1, 2])
        #expect(f.saw.values == [false])
        #expect(f.ledger.all == [[1, 2]])
    }

    /// A batch of one: the commit function runs in the worker's own task, so that worker's
    /// cancellation is visible to it (here it throws `CancellationError`, which is the batch's
    /// outcome: the worker learns that its item was not saved). Nobody else is affected.
    @Test(.timeLimit(.minutes(1)), arguments: AsyncTestHome.allCases)
    func cancelledCommitterOfABatchOfOne(_ home: AsyncTestHome) async throws {
        let f = Fixture(gated: true)
        try await committerAlone(f, f.coordinator(home))
    }

    func committerAlone<C: AsyncBatchCoordinator<Int>>(_ f: Fixture, _ coordinator: C) async throws {
        let commitGate = try #require(f.commitGate)
        let alone = Task { try await f.add(1, coordinator) }
        await awaitCondition("the commit function runs") { commitGate.waiting == 1 }
        alone.cancel()
        commitGate.open()
        await #expect(throws: CancellationError.self) { try await alone.value }
        #expect(try await f.add(2, coordinator) == [2])
        #expect(f.ledger.all == [[2]])
    }

    /// Many tasks, a third of them cancelled at random moments: exact accounting. A task either
    /// got `CancellationError` (and its item is in no batch) or a batch that contains its item;
    /// every committed item belongs to exactly one batch; the queue ends empty.
    @Test(.timeLimit(.minutes(1)), arguments: AsyncTestHome.allCases)
    func cancellationStorm(_ home: AsyncTestHome) async throws {
        let f = Fixture()
        try await storm(
            f,
            home.makeCoordinator(waiting: .adaptive) {
                await Task.yield()
                return f.ledger.recordIndex(f.state.items)
            })
    }

    func storm<C: AsyncBatchCoordinator<Int>>(_ f: Fixture, _ coordinator: C) async throws {
        let tasks = 240
        let handles = (0..<tasks).map { item in
            Task { () async throws -> [Int] in
                let ticket = coordinator.ticket()
                await Task.yield()
                let batch = try await ticket.enter { section in
                    if section.isFirst { f.state.items.removeAll() }
                    f.state.items.append(item)
                    return try await section.commit()
                }
                return f.ledger.all[batch]
            }
        }
        for (i, handle) in handles.enumerated() where i % 3 == 0 { handle.cancel() }
        await f.ledger.expectStormAccounted(handles)
        #expect(coordinator.queueLength == 0)
    }
}

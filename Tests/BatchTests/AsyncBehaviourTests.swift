// The behavioural suite of the protocol (docs/DESIGN.md) for the async API, as far as that API
// allows: the same scenarios as BehaviourTests, written against `AsyncBatchCoordinator` and run
// unchanged against every async home (`AsyncTestHome`). Ordering between tasks is made
// deterministic by the async critical section: a task that entered holds the section until it
// suspends in `commit()`, so another task's `enter` returning proves the first one waits there.
import BatchIPC
import BatchTestSupport
import Synchronization
import Testing

@Suite("Behaviour, async (docs/DESIGN.md)", .timeLimit(.minutes(1)))
struct AsyncBehaviourTests {
    @Test(
        "N tasks × M iterations: every result is a batch with the task's item; totals exact",
        arguments: AsyncTestHome.allCases)
    func exactTotals(_ home: AsyncTestHome) async {
        let ledger = Ledger()
        await exactTotals(home.makeCoordinator { ledger.commitBatch() }, ledger)
    }

    func exactTotals(_ coordinator: some AsyncBatchCoordinator<Int>, _ ledger: Ledger) async {
        let workers = 64
        let iterations = 40
        let wrong = await withTaskGroup(of: Int.self) { group in
            for w in 0..<workers {
                group.addTask {
                    var wrong = 0
                    for i in 0..<iterations {
                        let item = w * iterations + i
                        do {
                            let number: Int
                            if w % 2 == 0 {
                                number = try await coordinator.batch { section in
                                    ledger.add(item, first: section.isFirst)
                                    return try await section.commit()
                                }
                            } else {
                                // The low-level calls, in the documented order.
                                coordinator.queueIn()
                                let index = try await coordinator.enter()
                                defer { coordinator.exit() }
                                ledger.add(item, first: index == 0)
                                number = try await coordinator.commit()
                            }
                            if !ledger.batch(number).contains(item) { wrong += 1 }
                        } catch {
                            wrong += 1
                        }
                    }
                    return wrong
                }
            }
            return await group.reduce(0, +)
        }
        #expect(wrong == 0)
        #expect(ledger.allCommitted.sorted() == Array(0..<workers * iterations))
        #expect(coordinator.queueLength == 0)
    }

    @Test("batches form under a closed loop with a slow commit", arguments: AsyncTestHome.allCases)
    func batchesForm(_ home: AsyncTestHome) async throws {
        let ledger = Ledger()
        let coordinator = home.makeCoordinator {
            try await Task.sleep(nanoseconds: 1_000_000)  // the commit's cost, simulated: 1 ms
            return ledger.commitBatch()
        }
        await batchesForm(coordinator, ledger)
    }

    func batchesForm(_ coordinator: some AsyncBatchCoordinator<Int>, _ ledger: Ledger) async {
        let workers = 8
        let iterations = 40
        await withTaskGroup(of: Void.self) { group in
            for w in 0..<workers {
                group.addTask {
                    for i in 0..<iterations {
                        _ = try? await coordinator.batch { section in
                            ledger.add(w * iterations + i, first: section.isFirst)
                            return try await section.commit()
                        }
                    }
                }
            }
        }
        let mean = Double(workers * iterations) / Double(ledger.batches)
        #expect(mean >= 3, "mean batch size \(mean)")
        #expect(ledger.allCommitted.count == workers * iterations)
    }

    // MARK: - The steps of the protocol

    @Test(
        "leave without commit: nothing is committed for a lone leaver; a leaver's data goes with the others",
        arguments: AsyncTestHome.allCases)
    func leaveWithoutCommit(_ home: AsyncTestHome) async throws {
        for _ in 0..<rounds {
            let ledger = Ledger()
            try await leaveWithoutCommit(home.makeCoordinator { ledger.commitBatch() }, ledger)
        }
    }

    func leaveWithoutCommit(_ coordinator: some AsyncBatchCoordinator<Int>, _ ledger: Ledger) async throws {
        coordinator.queueIn()
        #expect(try await coordinator.enter() == 0)
        #expect(coordinator.exit() == 0)
        try await coordinator.batch { section in _ = section.index }  // returns without commit
        #expect(ledger.batches == 0)

        // B waits in commit for A; A adds and leaves; B commits both items.
        coordinator.queueIn()  // A
        let b = AsyncWorker(coordinator) { _, first in ledger.add(2, first: first) }
        await awaitCondition("B entered") { b.isInside }
        #expect(try await coordinator.enter() == 1)  // returns once B waits in commit
        ledger.add(1, first: false)
        coordinator.exit()
        let number = try await b.task.value
        #expect(ledger.batch(number) == [2, 1])
        #expect(ledger.batches == 1)
    }

    /// Runs B (a task: enter, add 2, commit) and then A in this task inside the same batch: A is
    /// announced (its ticket) before B enters, so B waits in commit for A. Returns B's outcome
    /// and A's.
    func twoInOneBatch<C: AsyncBatchCoordinator<Int>>(
        _ coordinator: C, ledger: Ledger, a: (consuming AsyncBatchTicket<C>) async throws -> Int
    ) async -> (b: Result<Int, any Error>, a: Result<Int, any Error>) {
        let ticket = coordinator.ticket()
        let b = AsyncWorker(coordinator) { _, first in ledger.add(2, first: first) }
        await awaitCondition("B entered") { b.isInside }
        let aOutcome: Result<Int, any Error>
        do { aOutcome = .success(try await a(ticket)) } catch { aOutcome = .failure(error) }
        return (await b.task.result, aOutcome)
    }

    @Test(
        "cancel with an error: every worker of the batch gets it; the commit function is not called",
        arguments: AsyncTestHome.allCases)
    func cancelWithError(_ home: AsyncTestHome) async throws {
        for round in 0..<rounds {
            let ledger = Ledger()
            try await cancelWithError(home.makeCoordinator { ledger.commitBatch() }, ledger, round)
        }
    }

    func cancelWithError(_ coordinator: some AsyncBatchCoordinator<Int>, _ ledger: Ledger, _ round: Int) async throws {
        let (b, a) = await twoInOneBatch(coordinator, ledger: ledger) { ticket in
            try await ticket.enter { section in
                #expect(section.index == 1)
                ledger.add(1, first: section.isFirst)
                return try section.cancel(Boom(tag: "cancel\(round)"))
            }
        }
        #expect(a.failure.map { isBoom($0, "cancel\(round)") } == true)
        #expect(b.failure.map { isBoom($0, "cancel\(round)") } == true)
        #expect(ledger.batches == 0)
        try await expectNextBatchWorks(coordinator, ledger)
    }

    @Test("cancel without an error: everyone gets BatchError.canceled", arguments: AsyncTestHome.allCases)
    func cancelWithoutError(_ home: AsyncTestHome) async throws {
        for _ in 0..<rounds {
            let ledger = Ledger()
            await cancelWithoutError(home.makeCoordinator { ledger.commitBatch() }, ledger)
        }
    }

    func cancelWithoutError(_ coordinator: some AsyncBatchCoordinator<Int>, _ ledger: Ledger) async {
        let (b, a) = await twoInOneBatch(coordinator, ledger: ledger) { ticket in
            try await ticket.enter { section in
                ledger.add(1, first: section.isFirst)
                return try section.cancel()
            }
        }
        #expect(a.failure.map(isCanceled) == true)
        #expect(b.failure.map(isCanceled) == true)
        #expect(ledger.batches == 0)
    }

    @Test(
        "a body that throws before commit poisons the batch: the others get workerFailed",
        arguments: AsyncTestHome.allCases)
    func throwBeforeCommit(_ home: AsyncTestHome) async throws {
        for round in 0..<rounds {
            let ledger = Ledger()
            try await throwBeforeCommit(home.makeCoordinator { ledger.commitBatch() }, ledger, round)
        }
    }

    func throwBeforeCommit(_ coordinator: some AsyncBatchCoordinator<Int>, _ ledger: Ledger, _ round: Int) async throws
    {
        let (b, a) = await twoInOneBatch(coordinator, ledger: ledger) { ticket in
            try await ticket.enter { section -> Int in
                ledger.add(1, first: section.isFirst)
                throw Boom(tag: "body\(round)")
            }
        }
        #expect((a.failure as? Boom)?.tag == "body\(round)")
        #expect(b.failure.map { isWorkerFailed($0, "body\(round)") } == true, "\(b)")
        #expect(ledger.batches == 0)
        try await expectNextBatchWorks(coordinator, ledger)
    }

    @Test("a body that throws after commit does not touch the batch", arguments: AsyncTestHome.allCases)
    func throwAfterCommit(_ home: AsyncTestHome) async throws {
        for round in 0..<rounds {
            let ledger = Ledger()
            try await throwAfterCommit(home.makeCoordinator { ledger.commitBatch() }, ledger, round)
        }
    }

    func throwAfterCommit(_ coordinator: some AsyncBatchCoordinator<Int>, _ ledger: Ledger, _ round: Int) async throws {
        let (b, a) = await twoInOneBatch(coordinator, ledger: ledger) { ticket in
            try await ticket.enter { section -> Int in
                ledger.add(1, first: section.isFirst)
                _ = try await section.commit()
                throw Boom(tag: "after\(round)")
            }
        }
        #expect((a.failure as? Boom)?.tag == "after\(round)")
        #expect(ledger.batch(try b.get()) == [2, 1])
    }

    @Test(
        "a commit function that throws gives every worker of the batch the same error",
        arguments: AsyncTestHome.allCases)
    func commitFunctionThrows(_ home: AsyncTestHome) async throws {
        for round in 0..<rounds {
            let ledger = Ledger()
            let fail = Atomic<Bool>(true)
            let coordinator = home.makeCoordinator {
                if fail.load(ordering: .relaxed) { throw Boom(tag: "fn\(round)") }
                return ledger.commitBatch()
            }
            try await commitFunctionThrows(coordinator, ledger, round, fail)
        }
    }

    func commitFunctionThrows(
        _ coordinator: some AsyncBatchCoordinator<Int>, _ ledger: Ledger, _ round: Int, _ fail: borrowing Atomic<Bool>
    ) async throws {
        let (b, a) = await twoInOneBatch(coordinator, ledger: ledger) { ticket in
            try await ticket.enter { section in
                ledger.add(1, first: section.isFirst)
                return try await section.commit()
            }
        }
        #expect(a.failure.map { isBoom($0, "fn\(round)") } == true)
        #expect(b.failure.map { isBoom($0, "fn\(round)") } == true)
        fail.store(false, ordering: .relaxed)
        try await expectNextBatchWorks(coordinator, ledger)
    }

    @Test("trigger commits at once; workers not yet entered go to the next batch", arguments: AsyncTestHome.allCases)
    func triggerCommitsAtOnce(_ home: AsyncTestHome) async throws {
        for _ in 0..<rounds {
            let ledger = Ledger()
            try await triggerCommitsAtOnce(home.makeCoordinator { ledger.commitBatch() }, ledger)
        }
    }

    func triggerCommitsAtOnce(_ coordinator: some AsyncBatchCoordinator<Int>, _ ledger: Ledger) async throws {
        coordinator.queueIn()  // B is coming, but A does not wait for it
        let first = try await coordinator.batch { section in
            ledger.add(1, first: section.isFirst)
            section.trigger()
            return try await section.commit()
        }
        #expect(ledger.batch(first) == [1])
        #expect(try await coordinator.enter() == 0)  // B: a new batch
        ledger.add(2, first: true)
        let second = try await coordinator.commit()
        coordinator.exit()
        #expect(ledger.batch(second) == [2])
    }

    @Test(
        "trigger does not leak into the next batch (after a leave, and after a commit)",
        arguments: AsyncTestHome.allCases)
    func triggerDoesNotLeak(_ home: AsyncTestHome) async throws {
        for _ in 0..<rounds {
            let ledger = Ledger()
            try await triggerDoesNotLeak(home.makeCoordinator { ledger.commitBatch() }, ledger)
        }
    }

    func triggerDoesNotLeak(_ coordinator: some AsyncBatchCoordinator<Int>, _ ledger: Ledger) async throws {
        // A triggers and leaves without committing: the batch empties.
        coordinator.queueIn()
        _ = try await coordinator.enter()
        coordinator.trigger()
        coordinator.exit()
        // A triggers and commits alone.
        _ = try await coordinator.batch { s in
            ledger.add(0, first: s.isFirst)
            s.trigger()
            return try await s.commit()
        }
        // B must now wait for A (announced): a leaked trigger would make it commit alone.
        let (b, a) = await twoInOneBatch(coordinator, ledger: ledger) { ticket in
            try await ticket.enter { section in
                ledger.add(1, first: section.isFirst)
                return try await section.commit()
            }
        }
        let number = try b.get()
        #expect(try a.get() == number)
        #expect(ledger.batch(number) == [2, 1])
    }

    @Test(
        "non-blocking enter while the batch commits returns busy and leaves the queue",
        arguments: AsyncTestHome.allCases)
    func nonBlockingEnterWhileCommitting(_ home: AsyncTestHome) async throws {
        let ledger = Ledger()
        let gate = AsyncGate()
        let coordinator = home.makeCoordinator {
            await gate.wait()
            return ledger.commitBatch()
        }
        try await nonBlockingEnterWhileCommitting(coordinator, ledger, gate)
    }

    func nonBlockingEnterWhileCommitting(
        _ coordinator: some AsyncBatchCoordinator<Int>, _ ledger: Ledger, _ gate: AsyncGate
    ) async throws {
        let committer = Task {
            try await coordinator.batch { s in
                ledger.add(1, first: s.isFirst)
                return try await s.commit()
            }
        }
        await awaitCondition("the commit function runs") { gate.waiting == 1 }
        #expect(coordinator.queueIn() == 1)
        #expect(try await coordinator.enter(blocking: false) == -1)
        #expect(coordinator.queueLength == 0)
        await #expect(throws: BatchError.self) {
            try await coordinator.batch(blocking: false) { s in try await s.commit() }
        }
        #expect(coordinator.queueLength == 0)
        gate.open()
        #expect(try await committer.value == 0)
        try await expectNextBatchWorks(coordinator, ledger)
    }

    @Test(
        "queueOut + notify releases a worker waiting in commit (low-level, ticket.leave, dropped ticket)",
        arguments: AsyncTestHome.allCases)
    func queueOutAndNotify(_ home: AsyncTestHome) async throws {
        for variant in 0..<3 {
            for _ in 0..<rounds {
                let ledger = Ledger()
                try await queueOutAndNotify(home.makeCoordinator { ledger.commitBatch() }, ledger, variant)
            }
        }
    }

    func queueOutAndNotify(_ coordinator: some AsyncBatchCoordinator<Int>, _ ledger: Ledger, _ variant: Int)
        async throws
    {
        // B is announced by a ticket (or queueIn); A waits in commit for it.
        var ticket = variant == 0 ? nil : coordinator.ticket()
        if variant == 0 { coordinator.queueIn() }
        let a = AsyncWorker(coordinator) { _, first in ledger.add(1, first: first) }
        await awaitCondition("A entered") { a.isInside }
        switch variant {
        case 0:
            #expect(coordinator.queueOut() == 0)
            coordinator.notify()
        case 1:
            ticket.take()!.leave()
        default:
            ticket = nil  // the ticket's deinit leaves and notifies
        }
        _ = ticket
        let number = try await a.task.value
        #expect(ledger.batch(number) == [1])
        #expect(coordinator.queueLength == 0)
    }

    @Test(
        "the coordinator's own commit() or cancel() inside the closure: no second outcome, no poison",
        arguments: AsyncTestHome.allCases)
    func lowLevelOutcomeInsideTheClosure(_ home: AsyncTestHome) async throws {
        let ledger = Ledger()
        try await lowLevelOutcomeInsideTheClosure(home.makeCoordinator { ledger.commitBatch() }, ledger)
    }

    func lowLevelOutcomeInsideTheClosure(_ coordinator: some AsyncBatchCoordinator<Int>, _ ledger: Ledger) async throws
    {
        await #expect(throws: (any Error).self) {
            try await coordinator.batch { section -> Int in
                ledger.add(1, first: section.isFirst)
                return try coordinator.cancel(Boom(tag: "inner"))
            }
        }
        #expect(ledger.batches == 0)
        await #expect(throws: Boom.self) {
            try await coordinator.batch { section -> Int in
                ledger.add(2, first: section.isFirst)
                _ = try await coordinator.commit()
                throw Boom(tag: "after")
            }
        }
        #expect(ledger.batches == 1)
        #expect(ledger.batch(0) == [2])
    }

    @Test("a ticket prepares (and may await) outside the section, then enters", arguments: AsyncTestHome.allCases)
    func ticketEnter(_ home: AsyncTestHome) async throws {
        let ledger = Ledger()
        try await ticketEnter(home.makeCoordinator { ledger.commitBatch() }, ledger)
    }

    func ticketEnter(_ coordinator: some AsyncBatchCoordinator<Int>, _ ledger: Ledger) async throws {
        let ticket = coordinator.ticket()
        #expect(coordinator.queueLength == 1)
        await Task.yield()  // preparing may suspend
        let item = 40 + 2
        let number = try await ticket.enter { section in
            ledger.add(item, first: section.isFirst)
            return try await section.commit()
        }
        #expect(ledger.batch(number) == [42])
        #expect(coordinator.queueLength == 0)
    }

    /// One batch of one through `coordinator`: it is committed with its item alone.
    func expectNextBatchWorks(
        _ coordinator: some AsyncBatchCoordinator<Int>, _ ledger: Ledger,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let n = try await coordinator.batch { section in
            ledger.add(3, first: section.isFirst)
            return try await section.commit()
        }
        #expect(ledger.batch(n) == [3], sourceLocation: sourceLocation)
    }
}

/// A task that runs `batch { }`: adds (`add(coach, first)`), says it is inside, and commits.
/// Once `isInside`, another task's `enter` returns only after this one waits in commit (it holds
/// the critical section until then).
final class AsyncWorker: Sendable {
    /// Set by the task once it is inside; read by the test.
    private final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .releasing) }
        var isSet: Bool { value.load(ordering: .acquiring) }
    }
    private let flag = Flag()
    let task: Task<Int, any Error>

    init<C: _AsyncBatchCoordinating<Int>>(
        _ coordinator: C, add: @escaping @Sendable (_ coach: Int, _ first: Bool) -> Void
    ) {
        let flag = self.flag
        task = Task {
            try await coordinator.batch { section in
                add(section.coach, section.isFirst)
                flag.set()
                return try await section.commit()
            }
        }
    }

    var isInside: Bool { flag.isSet }
}

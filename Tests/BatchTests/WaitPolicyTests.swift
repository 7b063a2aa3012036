// The waiting policy (docs/DESIGN.md §5), pinned without timing flakiness: the commit's cost is
// assumed (`BatchWaiting.adaptive(assumedCommitCost:)`) instead of measured, and every order
// between workers is awaited, never slept for. Lower bounds on time are exact (a worker cannot
// give up before its deadline); upper bounds are generous.
import BatchIPC
import BatchTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("The waiting policy", .timeLimit(.minutes(1)))
struct WaitPolicyTests {
    static let zeroCost = BatchWaiting(rule: .adaptive, assumedCommitCost: .zero)
    static let slowCommit = BatchWaiting(rule: .adaptive, assumedCommitCost: .seconds(30))

    @Test("adaptive: a commit that costs nothing never waits for announced workers", arguments: TestHome.allCases)
    func zeroCostNeverWaits(_ home: TestHome) throws {
        let ledger = Ledger()
        try zeroCostNeverWaits(home.makeCoordinator(waiting: Self.zeroCost) { ledger.commitBatch() }, ledger)
    }

    func zeroCostNeverWaits(_ coordinator: some BatchCoordinator<Int>, _ ledger: Ledger) throws {
        coordinator.queueIn()  // B announces itself and never comes
        let a = BackgroundWorker(coordinator) { _, first in ledger.add(1, first: first) }
        let number = try a.finish().get()  // returns although B is still announced
        #expect(ledger.batch(number) == [1])
        #expect(coordinator.queueLength == 1)
        coordinator.queueOut()
        coordinator.notify()
    }

    @Test(
        "a slow commit waits for announced workers; strict waits whatever the commit costs",
        arguments: TestHome.allCases, [slowCommit, BatchWaiting(rule: .strict, assumedCommitCost: .zero)])
    func waitsForAnnounced(_ home: TestHome, _ waiting: BatchWaiting) throws {
        let ledger = Ledger()
        try waitsForAnnounced(home.makeCoordinator(waiting: waiting) { ledger.commitBatch() }, ledger)
    }

    func waitsForAnnounced(_ coordinator: some BatchCoordinator<Int>, _ ledger: Ledger) throws {
        let ticket = coordinator.ticket()  // B
        let a = BackgroundWorker(coordinator) { _, first in ledger.add(1, first: first) }
        waitUntil("A entered") { a.isInside }
        // B's enter returns only once A waits in commit (A holds the section until then).
        let number = try ticket.enter { section in
            #expect(section.index == 1)
            ledger.add(2, first: section.isFirst)
            return try section.commit()
        }
        #expect(try a.finish().get() == number)
        #expect(ledger.batch(number) == [1, 2])
    }

    @Test("adaptive: the wait for announced workers ends after about one commit's cost", arguments: TestHome.allCases)
    func waitIsBoundedByTheCommitCost(_ home: TestHome) throws {
        let ledger = Ledger()
        let waiting = BatchWaiting(rule: .adaptive, assumedCommitCost: .milliseconds(30))
        try waitIsBoundedByTheCommitCost(home.makeCoordinator(waiting: waiting) { ledger.commitBatch() }, ledger)
    }

    func waitIsBoundedByTheCommitCost(_ coordinator: some BatchCoordinator<Int>, _ ledger: Ledger) throws {
        coordinator.queueIn()  // B announces itself and never comes
        let start = monotonicSeconds()
        let number = try coordinator.batch { section in
            ledger.add(1, first: section.isFirst)
            return try section.commit()
        }
        let waited = monotonicSeconds() - start
        #expect(ledger.batch(number) == [1])
        #expect(waited >= 0.030, "gave up after \(waited) s, before one commit's cost")
        #expect(waited < 10, "waited \(waited) s")
        coordinator.queueOut()
        coordinator.notify()
    }

    @Test(
        "adaptive: a lone worker waits for a just-served peer when commits are slow, not when they are free",
        arguments: TestHome.allCases, [true, false])
    func loneWorkerWaitsForAPeer(_ home: TestHome, _ slow: Bool) throws {
        let ledger = Ledger()
        let waiting =
            slow
            ? BatchWaiting(rule: .adaptive, assumedCommitCost: .seconds(30), yieldBudget: .seconds(30)) : Self.zeroCost
        // The shared-memory home caps the wait by the process's yield budget (1 ms by default):
        // give it room, so that B's return is never a race against a busy machine.
        let coordinator = home.makeCoordinator(waiting: waiting, yieldBudget: slow ? .seconds(2) : nil) {
            ledger.commitBatch()
        }
        try loneWorkerWaitsForAPeer(coordinator, ledger, slow)
    }

    func loneWorkerWaitsForAPeer(_ coordinator: some BatchCoordinator<Int>, _ ledger: Ledger, _ slow: Bool) throws {
        // A batch of two: A and B, both served.
        let ticket = coordinator.ticket()
        let first = BackgroundWorker(coordinator) { _, isFirst in ledger.add(1, first: isFirst) }
        waitUntil("A entered") { first.isInside }
        if slow {
            _ = try ticket.enter { section in
                ledger.add(2, first: section.isFirst)
                return try section.commit()
            }
        } else {
            ticket.leave()  // a commit that costs nothing does not wait for B
        }
        _ = try first.finish().get()
        // A comes back alone; nobody is announced.
        let again = BackgroundWorker(coordinator) { _, isFirst in ledger.add(3, first: isFirst) }
        waitUntil("A entered again") { again.isInside }
        if slow {
            // A waits for a peer: B comes back within the bound and joins A's batch.
            let number = try coordinator.batch { section in
                ledger.add(4, first: section.isFirst)
                return try section.commit()
            }
            #expect(try again.finish().get() == number)
            #expect(ledger.batch(number) == [3, 4])
        } else {
            let number = try again.finish().get()
            #expect(ledger.batch(number) == [3])
        }
    }

    @Test("the commit's cost is measured per coordinator and clamped")
    func commitCostIsMeasured() throws {
        let coordinator = Coordinator<Int> {
            var pause = timespec(tv_sec: 0, tv_nsec: 2_000_000)
            nanosleep(&pause, nil)
            return 0
        }
        #expect(coordinator._engine.commitEstimate == 0)  // nothing measured yet
        for _ in 0..<4 { _ = try coordinator.batch { try $0.commit() } }
        let estimate = coordinator._engine.commitEstimate
        #expect(estimate >= 2_000_000, "estimate \(estimate) ns for a 2 ms commit")
        #expect(estimate < 10_000_000_000)
    }

    @Test("async: a commit that costs nothing never waits; strict does", arguments: AsyncTestHome.allCases)
    func asyncWaiting(_ home: AsyncTestHome) async throws {
        let ledger = Ledger()
        try await asyncZeroCost(home.makeCoordinator(waiting: Self.zeroCost) { ledger.commitBatch() }, ledger)
        let strictLedger = Ledger()
        let strict = BatchWaiting(rule: .strict, assumedCommitCost: .zero)
        try await asyncStrict(home.makeCoordinator(waiting: strict) { strictLedger.commitBatch() }, strictLedger)
    }

    func asyncZeroCost(_ coordinator: some AsyncBatchCoordinator<Int>, _ ledger: Ledger) async throws {
        coordinator.queueIn()  // announced, never comes
        let number = try await coordinator.batch { section in
            ledger.add(1, first: section.isFirst)
            return try await section.commit()
        }
        #expect(ledger.batch(number) == [1])
        coordinator.queueOut()
        coordinator.notify()
    }

    func asyncStrict(_ coordinator: some AsyncBatchCoordinator<Int>, _ ledger: Ledger) async throws {
        let ticket = coordinator.ticket()
        let a = AsyncWorker(coordinator) { _, first in ledger.add(1, first: first) }
        await awaitCondition("A entered") { a.isInside }
        let number = try await ticket.enter { section in
            ledger.add(2, first: section.isFirst)
            return try await section.commit()
        }
        #expect(try await a.task.value == number)
        #expect(ledger.batch(number) == [1, 2])
    }
}

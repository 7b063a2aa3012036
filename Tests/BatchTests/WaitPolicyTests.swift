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

    @Test("the estimate follows a lower sample fast and a higher one slowly")
    func estimateRule() {
        let longest: Int64 = 10_000_000_000
        func next(_ old: Int64, _ sample: Int64) -> Int64 {
            _WaitPolicy.nextCommitEstimate(old, sample: sample, longest: longest)
        }
        #expect(next(0, 40) == 40)  // the first sample, as it is
        #expect(next(0, -5) == 1)  // clamped
        #expect(next(0, .max) == longest)
        #expect(next(-7, 40) == 40)  // a segment's value is clamped too
        #expect(next(1_000, 200) == 600)  // half way down
        // A commit of 40 ns timed across a preemption (100 µs): at most 250 ns up, still a
        // commit run in place (at most 2 µs).
        #expect(next(40, 100_000) == 290)
        #expect(next(8_000, 100_000) == 10_000)  // at most a quarter up
        #expect(next(8_000, 9_000) == 8_250)  // a quarter of the gap
        // A real rise shows in every sample: tenfold within eleven.
        var estimate: Int64 = 100_000
        for _ in 0..<11 { estimate = next(estimate, 1_000_000_000) }
        #expect(estimate >= 1_000_000)
    }

    @Test("one commit timed across a long stall does not make a cheap commit look slow")
    func outlierSampleMovesLittle() throws {
        let calls = Atomic<Int>(0)
        // Call 65 is the first measured one after the first call: a lone, uncontended commit is
        // timed 1 in 64. It stalls for 20 ms, as a preempted committer would.
        let coordinator = Coordinator<Int> {
            if calls.add(1, ordering: .relaxed).newValue == 65 {
                var pause = timespec(tv_sec: 0, tv_nsec: 20_000_000)
                nanosleep(&pause, nil)
            }
            return 0
        }
        _ = try coordinator.batch { try $0.commit() }
        let before = coordinator._engine.commitEstimate
        for _ in 0..<64 { _ = try coordinator.batch { try $0.commit() } }
        let after = coordinator._engine.commitEstimate
        #expect(after > before, "the stalled commit was not measured: \(before) → \(after) ns")
        #expect(after <= before + max(before, 1_000) / 4, "\(before) → \(after) ns after one 20 ms sample")
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

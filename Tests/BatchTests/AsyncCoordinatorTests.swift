import BatchTestSupport
import Foundation
import Synchronization
import Testing

// AsyncCoordinator: batching through one coordinator from many tasks on the cooperative pool,
// the safe and low-level APIs, poisoning, non-blocking enter, misuse.
@testable import Batch

struct AsyncFailure: Error, Equatable, CustomStringConvertible {
    let tag: String
    var description: String { "async-failure-\(tag)" }
}

@Suite struct AsyncCoordinatorTests {
    /// The test the issue asks for: hundreds of tasks on the default cooperative pool (two
    /// threads on this machine) batching through one coordinator, each announcing itself, then
    /// suspending while it prepares its data (as a request handler does), then entering. Exact
    /// totals; every task's result is the batch that contained its item.
    ///
    /// The blocking API deadlocks in exactly this setting: a worker waiting in `commit()` for the
    /// announced workers parks its pool thread, and the announced workers, suspended, never get a
    /// thread back. `blockingCoordinatorDeadlocksOnTheCooperativePool` below runs that experiment
    /// in a child process with a 5-second watchdog (measured: the blocking run never finishes,
    /// the watchdog always fires; this async run takes well under a second).
    @Test(.timeLimit(.minutes(1)))
    func hundredsOfTasksOnTheCooperativePool() async throws {
        let tasks = 300
        let rounds = 20
        let state = AsyncItems()
        let ledger = AsyncLedger()
        let coordinator = AsyncCoordinator<[Int]> {
            await Task.yield()  // an async commit function that really suspends
            return ledger.record(state.items)
        }
        let start = asyncTestNow()
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for t in 0..<tasks {
                group.addTask {
                    var served = 0
                    for r in 0..<rounds {
                        let item = t * rounds + r
                        let ticket = coordinator.ticket()
                        await Task.yield()  // prepare the data while announced: suspends
                        let batch = try await ticket.enter { section in
                            if section.isFirst { state.items.removeAll() }
                            state.items.append(item)
                            return try await section.commit()
                        }
                        if !batch.contains(item) { Issue.record("task \(t) got a batch without its item \(item)") }
                        served += 1
                    }
                    return served
                }
            }
            var total = 0
            for try await served in group { total += served }
            return total
        }
        let elapsed = asyncTestNow() - start
        #expect(total == tasks * rounds)
        let batches = ledger.all
        #expect(batches.flatMap { $0 }.sorted() == Array(0..<(tasks * rounds)))  // each item once
        #expect(batches.count < tasks * rounds)  // batches formed
        #expect(coordinator.queueLength == 0)
        #expect(elapsed < 30)
        print(
            "async pool test: \(tasks) tasks × \(rounds) in \(elapsed) s, \(batches.count) batches, mean size \(Double(tasks * rounds) / Double(batches.count))"
        )
    }

    /// The bounded experiment behind the test above: the same closed loop with the *blocking*
    /// `Coordinator`, in a child process whose watchdog exits with 42 after 5 seconds. Expecting
    /// that exit code documents (and re-checks on every run) that the blocking API deadlocks the
    /// cooperative pool.
    @Test(.timeLimit(.minutes(1)))
    func blockingCoordinatorDeadlocksOnTheCooperativePool() async {
        await #expect(processExitsWith: .exitCode(42)) {
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: 5)
                exit(42)  // still running: deadlocked
            }
            final class Items: @unchecked Sendable { var items: [Int] = [] }
            let state = Items()
            // Strict waiting: a committer waits for every announced worker. (The adaptive policy
            // stops waiting for workers once it has measured a commit this cheap, which hides the
            // deadlock here; a slower commit would not.)
            let coordinator = Coordinator<[Int]>(waiting: .strict) { state.items }
            await withTaskGroup(of: Void.self) { group in
                for t in 0..<256 {
                    group.addTask {
                        for r in 0..<4 {
                            let ticket = coordinator.ticket()
                            await Task.yield()
                            _ = try? ticket.enter { section in
                                if section.isFirst { state.items.removeAll() }
                                state.items.append(t * 4 + r)
                                return try section.commit()
                            }
                        }
                    }
                }
            }
            exit(0)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func oneTaskCommitsAlone() async throws {
        let commits = Locked(0)
        let coordinator = AsyncCoordinator<Int> {
            commits.withLock {
                $0 += 1
                return $0
            }
        }
        for round in 1...3 {
            let got = try await coordinator.batch { section in
                let first = section.isFirst
                #expect(first)
                return try await section.commit()
            }
            #expect(got == round)
        }
        #expect(coordinator.queueLength == 0)
    }

    /// The async entry points run on the caller's executor (`nonisolated(nonsending)`), so a
    /// main-actor caller can pass a body that touches main-actor state. Compiling is the test.
    @Test(.timeLimit(.minutes(1))) @MainActor
    func usableFromTheMainActor() async throws {
        let coordinator = AsyncCoordinator<Int> { 5 }
        var touched = 0  // main-actor isolated, mutated inside the non-Sendable body
        let got = try await coordinator.batch { section in
            touched += 1
            return try await section.commit()
        }
        #expect(got == 5 && touched == 1)
    }

    @Test(.timeLimit(.minutes(1)))
    func lowLevelCallsInOrder() async throws {
        let coordinator = AsyncCoordinator<String> { "done" }
        coordinator.queueIn()
        let index = try await coordinator.enter()
        #expect(index == 0)
        coordinator.trigger()
        #expect(try await coordinator.commit() == "done")
        #expect(coordinator.exit() == 0)

        // Leaving without an outcome, then a cancel.
        coordinator.queueIn()
        #expect(try await coordinator.enter() == 0)
        #expect(coordinator.exit() == 0)
        coordinator.queueIn()
        #expect(try await coordinator.enter() == 0)
        #expect(throws: AsyncFailure(tag: "c")) { try coordinator.cancel(AsyncFailure(tag: "c")) }
        #expect(coordinator.exit() == 0)
        #expect(coordinator.queueLength == 0)
    }

    /// A body that throws before committing poisons the batch: the other worker gets
    /// `workerFailed` carrying the cause, the thrower its own error; the next batch is clean.
    @Test(.timeLimit(.minutes(1)))
    func throwingInsidePoisonsTheBatch() async throws {
        let state = AsyncItems()
        let ledger = AsyncLedger()
        let coordinator = AsyncCoordinator<[Int]> { ledger.record(state.items) }
        let prepare = AsyncGate()
        let thrower = Task { () async throws -> [Int] in
            let ticket = coordinator.ticket()
            await prepare.wait()
            return try await ticket.enter { section in
                state.items.append(2)
                throw AsyncFailure(tag: "inside")
            }
        }
        await awaitCondition("the thrower is announced") { prepare.waiting == 1 }
        let waiter = Task {
            try await coordinator.batch { section in
                if section.isFirst { state.items.removeAll() }
                state.items.append(1)
                return try await section.commit()
            }
        }
        await awaitCondition("the first worker waits in commit") { coordinator.waitingInCommit() == 1 }
        prepare.open()
        await #expect(throws: AsyncFailure(tag: "inside")) { try await thrower.value }
        do {
            _ = try await waiter.value
            Issue.record("the batch should have been poisoned")
        } catch BatchError.workerFailed(let cause) {
            #expect(cause as? AsyncFailure == AsyncFailure(tag: "inside"))
        }
        #expect(ledger.all.isEmpty)
        let next = try await coordinator.batch { section in
            if section.isFirst { state.items.removeAll() }
            state.items.append(3)
            return try await section.commit()
        }
        #expect(next == [3])
    }

    /// Non-blocking enter while the batch commits: `busy`, and the worker left the queue.
    @Test(.timeLimit(.minutes(1)))
    func nonBlockingEnterWhileCommittingIsBusy() async throws {
        let gate = AsyncGate()
        let coordinator = AsyncCoordinator<Int> {
            await gate.wait()
            return 7
        }
        let committer = Task { try await coordinator.batch { try await $0.commit() } }
        await awaitCondition("the commit function runs") { gate.waiting == 1 }
        do {
            _ = try await coordinator.batch(blocking: false) { try await $0.commit() }
            Issue.record("expected busy")
        } catch BatchError.busy {}
        #expect(coordinator.queueLength == 0)
        gate.open()
        #expect(try await committer.value == 7)
    }
}

/// The token that names a task to the async homes (`_currentTask()`): 0 outside any task, the
/// same for every call within one task, different for two tasks alive at once.
@Test(.timeLimit(.minutes(1)))
func taskTokens() async {
    let outside = Mutex<UInt64>(.max)
    runThreads(1) { _ in outside.withLock { $0 = _currentTask() } }
    #expect(outside.withLock { $0 } == 0)
    let gate = AsyncGate()
    async let a: (UInt64, UInt64) = {
        let first = _currentTask()
        await gate.wait()
        return (first, _currentTask())
    }()
    async let b: (UInt64, UInt64) = {
        let first = _currentTask()
        await gate.wait()
        return (first, _currentTask())
    }()
    gate.open()
    let (ta, tb) = await (a, b)
    #expect(ta.0 != 0 && ta.0 == ta.1)
    #expect(tb.0 != 0 && tb.0 == tb.1)
    #expect(ta.0 != tb.0)
}

import BatchTestSupport
import Synchronization
import Testing

// AsyncMulti: several coaches in flight, many tasks, exact totals; and the balancer.
@testable import Batch

@Suite struct AsyncMultiTests {
    @Test(.timeLimit(.minutes(1)))
    func manyTasksAcrossCoaches() async throws {
        let coaches = 3
        let tasks = 200
        let rounds = 15
        let states = (0..<coaches).map { _ in AsyncItems() }
        let ledger = AsyncLedger()
        let multi = AsyncMulti<[Int]>(coaches: coaches) { coach in
            await Task.yield()
            return ledger.record(states[coach].items)
        }
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for t in 0..<tasks {
                group.addTask {
                    for r in 0..<rounds {
                        let item = t * rounds + r
                        let ticket = multi.ticket()
                        await Task.yield()
                        let batch = try await ticket.enter { section in
                            let state = states[section.coach]
                            if section.isFirst { state.items.removeAll() }
                            state.items.append(item)
                            return try await section.commit()
                        }
                        if !batch.contains(item) { Issue.record("item \(item) not in its batch") }
                    }
                    return rounds
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(total == tasks * rounds)
        #expect(ledger.all.flatMap { $0 }.sorted() == Array(0..<(tasks * rounds)))
        #expect(multi.queueLength == 0)
    }

    /// Many tasks over three coaches, a third of them cancelled at random moments: a task either
    /// got `CancellationError` (its item is in no batch) or a batch containing its item; every
    /// committed item is in exactly one batch; the queue ends empty.
    @Test(.timeLimit(.minutes(1)))
    func cancellationStormAcrossCoaches() async throws {
        let coaches = 3
        let states = (0..<coaches).map { _ in AsyncItems() }
        let ledger = AsyncLedger()
        let multi = AsyncMulti<[Int]>(coaches: coaches) { coach in
            await Task.yield()
            return ledger.record(states[coach].items)
        }
        let tasks = 300
        let handles = (0..<tasks).map { item in
            Task { () async throws -> [Int] in
                let ticket = multi.ticket()
                await Task.yield()
                return try await ticket.enter { section in
                    let state = states[section.coach]
                    if section.isFirst { state.items.removeAll() }
                    state.items.append(item)
                    return try await section.commit()
                }
            }
        }
        for (i, handle) in handles.enumerated() where i % 3 == 1 { handle.cancel() }
        await ledger.expectStormAccounted(handles)
        #expect(multi.queueLength == 0)
    }

    /// A balancer that always picks the last free coach is obeyed.
    @Test(.timeLimit(.minutes(1)))
    func balancerPicksTheCoach() async throws {
        let multi = AsyncMulti<Int>(coaches: 3) { coach in coach }
        multi.balancer = { free in
            var last = -1
            for c in 0..<3 where free[0] & (1 << UInt64(c)) != 0 { last = c }
            return last
        }
        let got = try await multi.batch { section in
            let coach = section.coach
            #expect(coach == 2)
            return try await section.commit()
        }
        #expect(got == 2)
    }

    /// A worker that the balancer refuses waits to enter without counting as coming (so it holds
    /// no batch up). Cancelled there, it gets `CancellationError` and does not take itself out of
    /// the queue a second time; once the balancer accepts again (and `notify()`), workers enter.
    @Test(.timeLimit(.minutes(1)))
    func cancelledWhileTheBalancerRefuses() async throws {
        let multi = AsyncMulti<Int>(coaches: 2) { coach in coach }
        multi.balancer = { _ in -1 }
        let refused = Task { try await multi.batch { try await $0.commit() } }
        await awaitCondition("the refused worker waits to enter") { multi.waitingToEnter == 1 }
        #expect(multi.queueLength == 0)
        refused.cancel()
        await #expect(throws: CancellationError.self) { try await refused.value }
        #expect(multi.queueLength == 0)
        #expect(multi.waitingToEnter == 0)

        let waiting = Task { try await multi.batch { try await $0.commit() } }
        await awaitCondition("the next worker waits to enter") { multi.waitingToEnter == 1 }
        multi.balancer = { _ in 1 }
        multi.notify()
        #expect(try await waiting.value == 1)
        #expect(multi.queueLength == 0)
    }

    /// Low-level calls on a multi-coordinator.
    @Test(.timeLimit(.minutes(1)))
    func lowLevelCalls() async throws {
        let multi = AsyncMulti<Int>(coaches: 2) { coach in 10 + coach }
        multi.queueIn()
        let (coach, index) = try await multi.enter()
        #expect(coach == 0 && index == 0)
        #expect(try await multi.commit(coach: coach) == 10)
        #expect(multi.exit(coach: coach) == 0)
    }

    /// The waiters of a published batch get its outcome without the critical section: while a
    /// task holds the section (suspended inside a batch of the other coach), the worker that
    /// waited in commit for its batch's committer returns. (Handed the section in turn instead,
    /// it would wait for that task to exit.)
    @Test(.timeLimit(.minutes(1)))
    func publishedWaitersDoNotNeedTheSection() async throws {
        let states = (0..<2).map { _ in AsyncItems() }
        let ledger = AsyncLedger()
        let commitGate = AsyncGate()
        // A slow commit (assumed): the first worker waits in commit for the announced second one.
        let multi = AsyncMulti<[Int]>(
            coaches: 2, waiting: BatchWaiting(rule: .adaptive, assumedCommitCost: .seconds(30))
        ) { coach in
            if coach == 0 { await commitGate.wait() }
            return ledger.record(states[coach].items)
        }
        let returned = Locked(0)
        let add: @Sendable (Int, AsyncGate?) async throws -> [Int] = { item, gate in
            try await multi.batch { section in
                let state = states[section.coach]
                if section.isFirst { state.items.removeAll() }
                state.items.append(item)
                await gate?.wait()
                return try await section.commit()
            }
        }
        let firstInside = AsyncGate()
        let first = Task {
            defer { returned.withLock { $0 += 1 } }
            return try await add(1, firstInside)
        }
        await awaitCondition("the first worker is inside") { firstInside.waiting == 1 }
        let second = Task {
            defer { returned.withLock { $0 += 1 } }
            return try await add(2, nil)
        }
        await awaitCondition("the second worker is announced") { multi.queueLength == 1 }
        firstInside.open()
        // The first waits in commit for the second, which enters and commits coach 0's batch.
        await awaitCondition("coach 0's commit function runs") { commitGate.waiting == 1 }
        let holderInside = AsyncGate()
        let holder = Task { try await add(3, holderInside) }
        await awaitCondition("a worker of coach 1 holds the section") { holderInside.waiting == 1 }
        commitGate.open()
        await awaitCondition("both workers of the published batch returned", seconds: 10) {
            returned.withLock { $0 } == 2
        }
        #expect(holderInside.waiting == 1)  // while the holder still has the section
        holderInside.open()
        #expect(try await first.value == [1, 2])
        #expect(try await second.value == [1, 2])
        #expect(try await holder.value == [3])
    }
}

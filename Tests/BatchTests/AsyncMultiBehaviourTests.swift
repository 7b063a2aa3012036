// The behavioural suite for several coaches with the async API (`AsyncMultiBatchCoordinator`),
// the same scenarios as MultiBehaviourTests, run unchanged against every async home.
import BatchIPC
import BatchTestSupport
import Synchronization
import Testing

@Suite("Behaviour of AsyncMulti (docs/DESIGN.md)", .timeLimit(.minutes(1)))
struct AsyncMultiBehaviourTests {
    @Test(
        "Multi without a balancer: exact totals; each result is a batch of the task's coach",
        arguments: AsyncTestHome.allCases)
    func multiTotals(_ home: AsyncTestHome) async {
        let ledgers = (0..<3).map { _ in Ledger() }
        await multiTotals(home.makeMulti(coaches: 3) { coach in ledgers[coach].commitBatch() }, ledgers)
    }

    func multiTotals(_ multi: some AsyncMultiBatchCoordinator<Int>, _ ledgers: [Ledger]) async {
        #expect(multi.coaches == ledgers.count)
        let workers = 32
        let iterations = 60
        let wrong = await withTaskGroup(of: Int.self) { group in
            for w in 0..<workers {
                group.addTask {
                    var wrong = 0
                    for i in 0..<iterations {
                        let item = w * iterations + i
                        do {
                            let (coach, number) = try await multi.batch { section in
                                ledgers[section.coach].add(item, first: section.isFirst)
                                return (section.coach, try await section.commit())
                            }
                            if !ledgers[coach].batch(number).contains(item) { wrong += 1 }
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
        #expect(ledgers.flatMap(\.allCommitted).sorted() == Array(0..<workers * iterations))
    }

    @Test("Multi enters the first free coach; a committing coach is skipped", arguments: AsyncTestHome.allCases)
    func multiFirstFree(_ home: AsyncTestHome) async throws {
        let gate = AsyncGate()
        let multi = home.makeMulti(coaches: 2) { coach in
            if coach == 0 { await gate.wait() }
            return coach
        }
        try await multiFirstFree(multi, gate)
    }

    func multiFirstFree(_ multi: some AsyncMultiBatchCoordinator<Int>, _ gate: AsyncGate) async throws {
        let committer = Task { try await multi.batch { s in try await s.commit() } }
        await awaitCondition("coach 0 commits") { gate.waiting == 1 }
        multi.queueIn()
        let (coach, index) = try await multi.enter()
        #expect(coach == 1 && index == 0)
        multi.trigger(coach: 1)
        #expect(try await multi.commit(coach: 1) == 1)
        multi.exit(coach: 1)
        gate.open()
        #expect(try await committer.value == 0)
        multi.queueIn()
        #expect(try await multi.enter() == (0, 0))
        #expect(throws: (any Error).self) { try multi.cancel(coach: 0, Boom(tag: "m")) }
        multi.exit(coach: 0)
    }

    @Test("Multi with a balancer: the task enters the coach it picks", arguments: AsyncTestHome.allCases)
    func multiBalancer(_ home: AsyncTestHome) async throws {
        try await multiBalancer(home.makeMulti(coaches: 70) { coach in coach })
    }

    func multiBalancer(_ multi: some AsyncMultiBatchCoordinator<Int>) async throws {
        let seen = Locked<[UInt64]>([])
        multi.balancer = { free in
            seen.withLock { $0 = free }
            return 69  // the highest coach; bit 69 is in word 1
        }
        #expect(try await multi.batch { s in try await s.commit() } == 69)
        #expect(seen.withLock { $0 } == [UInt64.max, (1 << 6) - 1])
        multi.balancer = nil
        #expect(try await multi.batch { s in try await s.commit() } == 0)
    }

    @Test(
        "a balancer that refuses: non-blocking gets busy; a refused task never holds up a filling batch",
        arguments: AsyncTestHome.allCases)
    func multiBalancerRefuses(_ home: AsyncTestHome) async throws {
        for _ in 0..<rounds {
            let ledgers = [Ledger(), Ledger()]
            try await multiBalancerRefuses(
                home.makeMulti(coaches: 2) { coach in ledgers[coach].commitBatch() }, ledgers)
        }
    }

    func multiBalancerRefuses(_ multi: some AsyncMultiBatchCoordinator<Int>, _ ledgers: [Ledger]) async throws {
        let allowed = Atomic<Int>(-1)
        multi.balancer = { _ in allowed.load(ordering: .acquiring) }
        multi.queueIn()
        #expect(try await multi.enter(blocking: false) == (-1, -1))
        #expect(multi.queueLength == 0)

        // A enters coach 0 and waits in commit for B, who is announced.
        allowed.store(0, ordering: .releasing)
        multi.queueIn()  // B
        let a = AsyncWorker(multi) { coach, first in ledgers[coach].add(1, first: first) }
        await awaitCondition("A entered") { a.isInside }
        // B is refused while coaches are free: it stops counting as coming, so A commits alone.
        allowed.store(-1, ordering: .releasing)
        let b = Task { () async throws -> (Int, Int) in
            let (coach, index) = try await multi.enter()
            ledgers[coach].add(2, first: index == 0)
            let n = try? await multi.commit(coach: coach)
            multi.exit(coach: coach)
            return (coach, n ?? -1)
        }
        #expect(ledgers[0].batch(try await a.task.value) == [1])
        // Changing the balancer's mind and notifying lets B in.
        allowed.store(1, ordering: .releasing)
        multi.notify()
        let (coach, number) = try await b.value
        #expect(coach == 1)
        #expect(ledgers[1].batch(number) == [2])
        #expect(multi.queueLength == 0)
    }
}

// The behavioural suite for several coaches (`MultiBatchCoordinator`), run unchanged against
// every blocking home (`TestHome`).
import BatchIPC
import BatchTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Behaviour of Multi (docs/DESIGN.md)", .timeLimit(.minutes(1)))
struct MultiBehaviourTests {
    @Test(
        "Multi without a balancer: exact totals; each result is a batch of the worker's coach",
        arguments: TestHome.allCases)
    func multiTotals(_ home: TestHome) {
        let ledgers = (0..<3).map { _ in Ledger() }
        multiTotals(home.makeMulti(coaches: 3) { coach in ledgers[coach].commitBatch() }, ledgers)
    }

    func multiTotals(_ multi: some MultiBatchCoordinator<Int>, _ ledgers: [Ledger]) {
        let coaches = ledgers.count
        #expect(multi.coaches == coaches)
        let workers = 8
        let iterations = 300
        let wrong = Atomic<Int>(0)
        let slow = Atomic<Int>(0)
        runThreads(workers) { w in
            for i in 0..<iterations {
                let item = w * iterations + i
                do {
                    let (coach, number) = try multi.batch { section in
                        ledgers[section.coach].add(item, first: section.isFirst)
                        return (section.coach, try section.commit())
                    }
                    if !ledgers[coach].batch(number).contains(item) { wrong.add(1, ordering: .relaxed) }
                } catch {
                    wrong.add(1, ordering: .relaxed)
                }
                _ = slow
            }
        }
        #expect(wrong.load(ordering: .relaxed) == 0)
        #expect(ledgers.flatMap(\.allCommitted).sorted() == Array(0..<workers * iterations))
    }

    @Test("Multi enters the first free coach; a committing coach is skipped", arguments: TestHome.allCases)
    func multiFirstFree(_ home: TestHome) throws {
        let gate = CommitGate()
        try multiFirstFree(
            home.makeMulti(coaches: 2) { coach in
                if coach == 0 { gate.hold() }
                return coach
            }, gate)
    }

    func multiFirstFree(_ multi: some MultiBatchCoordinator<Int>, _ gate: CommitGate) throws {
        let thread = TestThread { _ = try? multi.batch { s in try s.commit() } }
        waitUntil("coach 0 commits") { gate.isHeld }
        multi.queueIn()
        let (coach, index) = multi.enter()
        #expect(coach == 1 && index == 0)
        multi.trigger(coach: 1)
        #expect(try multi.commit(coach: 1) == 1)
        multi.exit(coach: 1)
        gate.release()
        thread.join()
        multi.queueIn()
        #expect(multi.enter() == (0, 0))
        #expect(throws: (any Error).self) { try multi.cancel(coach: 0, Boom(tag: "m")) }
        multi.exit(coach: 0)
    }

    @Test("Multi with a balancer: the worker enters the coach it picks", arguments: TestHome.allCases)
    func multiBalancer(_ home: TestHome) throws {
        try multiBalancer(home.makeMulti(coaches: 70) { coach in coach })
    }

    func multiBalancer(_ multi: some MultiBatchCoordinator<Int>) throws {
        let seen = Locked<[UInt64]>([])
        multi.balancer = { free in
            seen.withLock { $0 = free }
            return 69  // the highest coach; bit 69 is in word 1
        }
        #expect(try multi.batch { s in try s.commit() } == 69)
        #expect(seen.withLock { $0 } == [UInt64.max, (1 << 6) - 1])
        multi.balancer = nil
        #expect(try multi.batch { s in try s.commit() } == 0)
    }

    @Test(
        "a balancer that refuses: non-blocking gets busy; a refused worker never holds up a filling batch",
        arguments: TestHome.allCases)
    func multiBalancerRefuses(_ home: TestHome) throws {
        for _ in 0..<rounds {
            let ledgers = [Ledger(), Ledger()]
            try multiBalancerRefuses(home.makeMulti(coaches: 2) { coach in ledgers[coach].commitBatch() }, ledgers)
        }
    }

    func multiBalancerRefuses(_ multi: some MultiBatchCoordinator<Int>, _ ledgers: [Ledger]) throws {
        let allowed = Atomic<Int>(-1)
        multi.balancer = { _ in allowed.load(ordering: .acquiring) }
        multi.queueIn()
        #expect(multi.enter(blocking: false) == (-1, -1))
        #expect(multi.queueLength == 0)

        // A enters coach 0 and waits in commit for B, who is announced.
        allowed.store(0, ordering: .releasing)
        multi.queueIn()  // B
        let a = BackgroundWorker(multi) { coach, first in ledgers[coach].add(1, first: first) }
        waitUntil("A entered") { a.isInside }
        // B is refused while coaches are free: it stops counting as coming, so A commits alone.
        allowed.store(-1, ordering: .releasing)
        let b = Locked<(Int, Int)?>(nil)
        let threadB = TestThread {
            let (coach, index) = multi.enter()
            ledgers[coach].add(2, first: index == 0)
            let n = try? multi.commit(coach: coach)
            multi.exit(coach: coach)
            b.withLock { $0 = (coach, n ?? -1) }
        }
        #expect(ledgers[0].batch(try a.finish().get()) == [1])
        #expect(b.withLock { $0 } == nil)
        // Changing the balancer's mind and notifying lets B in.
        allowed.store(1, ordering: .releasing)
        multi.notify()
        threadB.join()
        let (coach, number) = try #require(b.withLock { $0 })
        #expect(coach == 1)
        #expect(ledgers[1].batch(number) == [2])
        #expect(multi.queueLength == 0)
    }
}

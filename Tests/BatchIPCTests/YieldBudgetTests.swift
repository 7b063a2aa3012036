// The waiters' yield budget (`SharedSegment.yieldBudget`): a waiter whose wake is near yields the
// CPU for at most this long before it sleeps. Bounded by a quarter of the liveness period (a
// yielding waiter does not look for dead participants), settable per process, and batches stay
// exact whether waiters yield or sleep at once.
import BatchIPC
import BatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("BatchIPC: yield budget", .timeLimit(.minutes(1)))
struct YieldBudgetTests {
    @Test("defaults to 1 ms, bounded by a quarter of the liveness period; .zero or less turns it off")
    func bounds() {
        let segment = makeSegment(SharedBatchConfiguration(livenessPeriod: .milliseconds(20)))
        #expect(segment.yieldBudget == .milliseconds(1))
        segment.yieldBudget = .seconds(10)
        #expect(segment.yieldBudget == .milliseconds(5))
        segment.yieldBudget = .microseconds(300)
        #expect(segment.yieldBudget == .microseconds(300))
        segment.yieldBudget = .zero
        #expect(segment.yieldBudget == .zero)
        segment.yieldBudget = .seconds(-1)
        #expect(segment.yieldBudget == .zero)
        segment.yieldBudget = .seconds(Int64.max)
        #expect(segment.yieldBudget == .milliseconds(5))

        let short = makeSegment(SharedBatchConfiguration(livenessPeriod: .milliseconds(2)))
        #expect(short.yieldBudget == .microseconds(500))
    }

    @Test(
        "8 threads, 100 µs commits: exact totals and batches form, with and without yields",
        arguments: [Duration.zero, .milliseconds(1)])
    func exactTotals(budget: Duration) throws {
        let segment = makeSegment(SharedBatchConfiguration(coaches: 1, participants: 16, stateSize: 16))
        segment.yieldBudget = budget
        #expect(segment.yieldBudget == budget)
        let ledger = Ledger()
        let coordinator = try SharedCoordinator<Int>(segment: segment) { _ in
            usleep(100)
            return ledger.commitBatch()
        }
        let threads = 8
        let perThread = 100
        let misplaced = Locked(0)
        runThreads(threads) { id in
            for i in 0..<perThread {
                let item = id * perThread + i
                let batch = try! coordinator.batch { section in
                    ledger.add(item, first: section.isFirst)
                    return try section.commit()
                }
                if !ledger.batch(batch).contains(item) { misplaced.withLock { $0 += 1 } }
            }
        }
        #expect(misplaced.withLock { $0 } == 0, "a worker was told a batch that does not hold its item")
        #expect(ledger.allCommitted.sorted() == Array(0..<(threads * perThread)))
        // Batches form (the mean is near 8 with a 100 µs commit; 2 leaves room for a noisy machine).
        #expect(Double(threads * perThread) / Double(ledger.batches) > 2)
    }
}

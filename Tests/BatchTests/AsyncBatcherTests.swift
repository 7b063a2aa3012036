import BatchTestSupport
import Synchronization
import Testing

// AsyncBatcher: submit one item, get the batch's result.
@testable import Batch

@Suite struct AsyncBatcherTests {
    @Test(.timeLimit(.minutes(1)))
    func submitGetsItsBatch() async throws {
        let ledger = AsyncLedger()
        let batcher = AsyncBatcher<Int, [Int]> { items in
            await Task.yield()
            return ledger.record(items)
        }
        try await submitInClosedLoop(batcher, ledger, tasks: 200, rounds: 10)
    }

    @Test(.timeLimit(.minutes(1)))
    func maxBatchSizeIsRespected() async throws {
        let ledger = AsyncLedger()
        let gate = AsyncGate()
        let batcher = AsyncBatcher<Int, [Int]>(maxBatchSize: 5) { items in
            await gate.wait()
            return ledger.record(items)
        }
        // Hold the first batch in its commit so that the others pile up, then release.
        let first = Task { try await batcher.submit(-1) }
        await awaitCondition("the first batch commits") { gate.waiting == 1 }
        let tasks = 100
        let results = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for item in 0..<tasks {
                    group.addTask {
                        let batch = try await batcher.submit(item)
                        if !batch.contains(item) { Issue.record("item \(item) not in its batch") }
                    }
                }
                try await group.waitForAll()
            }
        }
        // The next batch fills while the first commits: 5 items, then it is full (triggered)
        // and the others wait to enter.
        await awaitCondition("the others wait to enter") { batcher.engine.home.parkedCount(channel: 0) == tasks - 5 }
        gate.open()
        _ = try await first.value
        try await results.value
        let batches = ledger.all
        #expect(batches.allSatisfy { $0.count <= 5 })
        #expect(batches.contains { $0.count == 5 })
        #expect(batches.flatMap { $0 }.sorted() == Array(-1..<tasks))
    }

    @Test(.timeLimit(.minutes(1)))
    func errorsReachEverySubmitterOfTheBatch() async throws {
        let batcher = AsyncBatcher<Int, Void> { _ in throw AsyncFailure(tag: "db") }
        await #expect(throws: AsyncFailure(tag: "db")) { try await batcher.submit(1) }
    }
}

@Suite struct AsyncBatcherPipelineTests {
    /// A batch that waited for its predecessor's commit follows the waiting policy once that
    /// commit ends: with a slow commit (assumed), it waits for the submitters just served, who
    /// announce themselves again and come to it. (Committing at once instead split 8 tasks into
    /// alternating batches of 4, exactly: a mean of 4.00.)
    @Test(.timeLimit(.minutes(1)))
    func aFollowingBatchWaitsForTheSubmittersJustServed() async throws {
        let ledger = AsyncLedger()
        let slow = BatchWaiting(rule: .adaptive, assumedCommitCost: .seconds(30))
        let batcher = AsyncBatcher<Int, [Int]>(waiting: slow) { items in
            try await Task.sleep(for: .milliseconds(1))
            return ledger.record(items)
        }
        try await submitInClosedLoop(batcher, ledger, tasks: 8, rounds: 40)
        let batches = ledger.all
        let mean = Double(8 * 40) / Double(batches.count)
        #expect(mean > 6, "mean batch \(mean) of 8 tasks: \(batches.map(\.count))")
    }
}

/// `tasks` tasks submit `rounds` items each (task `t`: `t × rounds + r`) in a closed loop, each
/// submitting its next item once the last one's batch is committed. Every item comes back in
/// the batch it was committed with, and the ledger holds each item once.
func submitInClosedLoop(
    _ batcher: AsyncBatcher<Int, [Int]>, _ ledger: AsyncLedger, tasks: Int, rounds: Int,
    sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for t in 0..<tasks {
            group.addTask {
                for r in 0..<rounds {
                    let item = t * rounds + r
                    let batch = try await batcher.submit(item)
                    if !batch.contains(item) {
                        Issue.record("item \(item) not in its batch", sourceLocation: sourceLocation)
                    }
                }
            }
        }
        try await group.waitForAll()
    }
    #expect(ledger.all.flatMap { $0 }.sorted() == Array(0..<(tasks * rounds)), sourceLocation: sourceLocation)
}

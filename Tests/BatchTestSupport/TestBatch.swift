// What the helper executable and the tests that join its batches must agree on: the segment's
// configuration, the state, result and record layouts, and the commit function's arithmetic.
// One definition for both, so that they cannot drift apart.
import BatchIPC

/// The segment configuration of the multi-process tests (`batch-ipc-test-helper create` too).
package let processConfiguration = SharedBatchConfiguration(
    coaches: 1, participants: 64, stateSize: 16, arenaCapacity: 64 << 10, resultCapacity: 16,
    livenessPeriod: .milliseconds(20))

/// The state of the test batch, in the segment's state region.
package struct TestState: BitwiseCopyable {
    package var batchSum: Int64  // reset by the batch's first worker
    package var total: Int64  // grand total, kept across batches by the commit function
}

/// What every worker of a batch gets.
package struct TestResult: BitwiseCopyable, Sendable, Equatable {
    package var total: Int64
    package var batchSize: Int64
}

/// One record: who added it.
package struct TestRecord: BitwiseCopyable {
    package var pid: Int32
    package var thread: Int32
    package var op: Int64
    package init(pid: Int32, thread: Int32, op: Int64) {
        self.pid = pid
        self.thread = thread
        self.op = op
    }
}

/// What every worker of a test batch does inside its section: the batch's first worker resets
/// the sum, and every worker adds one to it (`commitTestBatch` reports it as the batch's size).
package func countIntoTestBatch(_ coordinator: some _SegmentAccessing, coach: Int, first: Bool) throws {
    try coordinator.withState(TestState.self, coach: coach) { state in
        if first { state.batchSum = 0 }
        state.batchSum += 1
    }
}

/// The commit function's arithmetic: adds the batch's sum to the grand total in the state.
package func commitTestBatch(_ contents: borrowing SharedBatchContents) -> TestResult {
    var state = contents.load(as: TestState.self)
    state.total += state.batchSum
    contents.store(state)
    return TestResult(total: state.total, batchSize: state.batchSum)
}

// What the helper executable and the tests that join its batches must agree on: the segment's
// configuration, the state, result and record layouts, and the commit function's arithmetic.
// Compiled into both (Tests/BatchIPCTests/TestBatch.swift is a symlink to this file), so that
// they cannot drift apart.
import BatchIPC

/// The segment configuration of the multi-process tests (`batch-ipc-test-helper create` too).
let processConfiguration = SharedBatchConfiguration(
    coaches: 1, participants: 64, stateSize: 16, arenaCapacity: 64 << 10, resultCapacity: 16,
    livenessPeriod: .milliseconds(20))

/// The state of the test batch, in the segment's state region.
struct TestState: BitwiseCopyable {
    var batchSum: Int64  // reset by the batch's first worker
    var total: Int64  // grand total, kept across batches by the commit function
}

/// What every worker of a batch gets.
struct TestResult: BitwiseCopyable, Sendable, Equatable {
    var total: Int64
    var batchSize: Int64
}

/// One record: who added it.
struct TestRecord: BitwiseCopyable {
    var pid: Int32
    var thread: Int32
    var op: Int64
}

/// The commit function's arithmetic: adds the batch's sum to the grand total in the state.
func commitTestBatch(_ contents: SharedBatchContents) -> TestResult {
    var state = contents.load(as: TestState.self)
    state.total += state.batchSum
    contents.store(state)
    return TestResult(total: state.total, batchSize: state.batchSum)
}

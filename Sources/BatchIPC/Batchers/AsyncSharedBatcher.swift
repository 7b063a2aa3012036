import Batch
import CBatchCore

/// Submit one record, get the result of the batch that carried it — for tasks of several
/// processes. The async twin of ``SharedBatcher`` (same batches, same limits, the same segment
/// may serve both), and the shared-memory twin of ``/Batch/AsyncBatcher``: a task that waits is
/// suspended, no thread of the cooperative pool ever waits for another worker, and the commit
/// function may `await`.
///
/// ```swift
/// let segment = try SharedSegment.openOrCreate(
///     name: "/rows", configuration: .init(coaches: 2, participants: 256, arenaCapacity: 1 << 20))
/// let batcher = try AsyncSharedBatcher<Int>(segment: segment) { batch in
///     try await db.insert(batch.records)   // one transaction for the whole batch
///     return batch.records.count
/// }
/// let committedWith = try await batcher.submit(row.encoded())
/// ```
///
/// Each task takes a participant seat while its record is in a batch (see
/// ``AsyncSharedCoordinator``): size the segment's `participants` for the submissions in flight
/// at once across processes.
public final class AsyncSharedBatcher<Result: BitwiseCopyable & Sendable>: Sendable {
    @usableFromInline let engine: _BatchEngine<_AsyncSharedHome<Result>>
    /// The most records in one batch, or `nil` for no limit. Immutable.
    public let maxBatchSize: Int?
    /// The most bytes of framed records in one batch (see ``SharedBatcher/maxBatchBytes``).
    public let maxBatchBytes: Int

    /// A batcher over every coach of `segment`; the parameters are those of
    /// ``SharedBatcher/init(segment:maxBatchSize:maxBatchBytes:waiting:commit:)``, and `commit`
    /// may `await` (it runs in the task of the submitter that closed the batch, shielded from
    /// that task's cancellation when the batch holds other submitters).
    /// - Throws: ``SharedBatchError/invalidConfiguration(_:)`` for a limit out of range,
    ///   ``SharedBatchError/resultTooLarge(size:capacity:)``,
    ///   ``SharedBatchError/processTableFull(capacity:)``.
    public init(
        segment: SharedSegment, maxBatchSize: Int? = nil, maxBatchBytes: Int? = nil,
        waiting: BatchWaiting = .adaptive,
        commit: @escaping @Sendable (_ batch: borrowing SharedBatchContents) async throws -> Result
    ) throws(SharedBatchError) {
        (self.maxBatchSize, self.maxBatchBytes) = try segment.batchLimits(maxBatchSize, maxBatchBytes)
        try segment.checkResult(Result.self)
        engine = _BatchEngine(
            home: try _AsyncSharedHome(segment: segment, commit: commit),
            waiting: _WaitPolicy(waiting, serialCommits: true))
    }

    /// The segment this batcher works in.
    public var segment: SharedSegment { engine.home.segment }

    /// Adds `record` to the batch being filled and returns that batch's result once it is
    /// committed.
    ///
    /// - Throws: ``SharedBatchError/recordTooLarge(size:capacity:)`` at once when the record can
    ///   never fit a batch; `CancellationError` if the task was cancelled before its record was
    ///   added (it is then in no batch); ``SharedBatchError/participantTableFull(capacity:)``
    ///   when no seat is free and this process holds none. Once the record is added,
    ///   cancellation is ignored: the caller gets the batch's outcome — what the commit function
    ///   threw for the whole batch, or the batch's ``/Batch/BatchError`` — so it always learns whether
    ///   its record was saved.
    public func submit(_ record: some Collection<UInt8>) async throws -> Result {
        let bytes = Array(record)
        let limit = maxBatchBytes
        let frame = SharedBatchContents.frame(bytes.count)
        guard frame <= limit else { throw SharedBatchError.recordTooLarge(size: bytes.count, capacity: limit) }
        let segment = engine.home.segment
        return try await engine.asyncSubmit(maxBatchSize: maxBatchSize) { c, _ in
            bytes.withUnsafeBytes { segment.append($0, frame: frame, coach: c, limit: limit) }
        }
    }
}

import Batch
import CBatchCore

/// Submit one record, get the result of the batch that carried it — for threads of several
/// processes. The commit function gets the batch's records in the order they were added.
///
/// The library owns the batch's contents (the coach's record arena), so the next batch fills
/// while the current one commits: the coaches of the segment are a pipeline whose commits run
/// one at a time, in the order the batches closed (give the segment 2 coaches for that; with
/// one, records wait while a batch commits). A batch is committed when its last announced
/// submitter has added its record (within the waiting policy's bounds, see ``/Batch/BatchWaiting``),
/// or when it holds `maxBatchSize` records — never before the batch before it is committed; then,
/// if it is smaller than that batch, it waits for the submitters just served to come back, up to
/// the policy's bound (one commit's cost, and the yield budget). A
/// record that does not fit what is left of a batch's arena (or of `maxBatchBytes`) goes to
/// the next batch; it never poisons the others.
///
/// ```swift
/// let segment = try SharedSegment.openOrCreate(
///     name: "/orders", configuration: .init(coaches: 2, arenaCapacity: 1 << 20))
/// let batcher = try SharedBatcher<Int>(segment: segment) { batch in
///     try journal.append(batch.arena)    // one write and one fsync for the whole batch
///     return batch.records.count
/// }
/// let committedWith = try batcher.submit(Array("order 42".utf8))
/// ```
///
/// For tasks, use ``AsyncSharedBatcher``: a thread that waits here blocks.
public final class SharedBatcher<Result: BitwiseCopyable & Sendable>: Sendable {
    @usableFromInline let engine: _BatchEngine<_SharedHome<Result>>
    /// The most records in one batch, or `nil` for no limit. Immutable.
    public let maxBatchSize: Int?
    /// The most bytes of records (framed, see ``SharedBatchContents/arena``) in one batch: at
    /// most the segment's `arenaCapacity`, which it is by default. Immutable.
    public let maxBatchBytes: Int

    /// A batcher over every coach of `segment`.
    /// - Parameters:
    ///   - segment: an open segment; the batcher keeps it open. Its `arenaCapacity` bounds a
    ///     batch's records.
    ///   - maxBatchSize: the most records in one batch; the record that fills a batch commits it
    ///     at once. `nil`: no limit. At least 1.
    ///   - maxBatchBytes: the most bytes of framed records in one batch (a record of `n` bytes
    ///     takes `8 + n` rounded up to 8). `nil`: the arena's capacity. At least 16, at most the
    ///     arena's capacity.
    ///   - waiting: how submitters wait for each other; ``/Batch/BatchWaiting/adaptive`` by default.
    ///   - commit: gets one batch's ``SharedBatchContents`` (``SharedBatchContents/records`` in
    ///     the order they were added) in the process of the submitter that closed it; what it
    ///     returns or throws is what every submitter of the batch gets.
    /// - Throws: ``SharedBatchError/invalidConfiguration(_:)`` for a limit out of range,
    ///   ``SharedBatchError/resultTooLarge(size:capacity:)``,
    ///   ``SharedBatchError/processTableFull(capacity:)``.
    public init(
        segment: SharedSegment, maxBatchSize: Int? = nil, maxBatchBytes: Int? = nil,
        waiting: BatchWaiting = .adaptive,
        commit: @escaping @Sendable (_ batch: borrowing SharedBatchContents) throws -> Result
    ) throws(SharedBatchError) {
        (self.maxBatchSize, self.maxBatchBytes) = try segment.batchLimits(maxBatchSize, maxBatchBytes)
        try segment.checkResult(Result.self)
        engine = _BatchEngine(
            home: try _SharedHome(segment: segment, commit: commit), waiting: _WaitPolicy(waiting, serialCommits: true))
    }

    /// The segment this batcher works in.
    public var segment: SharedSegment { engine.home.segment }

    /// Adds `record` to the batch being filled and returns that batch's result once it is
    /// committed. The calling thread blocks while it waits.
    /// - Throws: ``SharedBatchError/recordTooLarge(size:capacity:)`` at once when the record can
    ///   never fit a batch (``maxBatchBytes``); otherwise what the commit function threw for the
    ///   whole batch, or the batch's ``/Batch/BatchError`` (a submitter's process died in it).
    public func submit(_ record: some Collection<UInt8>) throws -> Result {
        try withRecordBytes(record) { try submit($0) }
    }

    /// ``submit(_:)-(Collection<UInt8>)`` for bytes in memory (no copy before the batch's own).
    /// - Throws: as ``submit(_:)-(Collection<UInt8>)``.
    public func submit(_ record: UnsafeRawBufferPointer) throws -> Result {
        let limit = maxBatchBytes
        let frame = SharedBatchContents.frame(record.count)
        guard frame <= limit else { throw SharedBatchError.recordTooLarge(size: record.count, capacity: limit) }
        let engine = self.engine
        let home = engine.home
        let segment = home.segment
        let me = home.threadToken()
        _ = engine.queueIn()
        var submission = _Submission()
        do {
            try home.lock()
        } catch {
            engine.leaveAfterFailure()
            throw error
        }
        while true {
            let step = engine.submitStep(
                &submission, me: me, maxBatchSize: maxBatchSize, cancelled: false, yieldCap: home.yieldCapNanos,
                add: { c, _ in segment.append(record, frame: frame, coach: c, limit: limit) })
            switch step {
            case .wait(let plan, _):
                do {
                    try home.wait(plan)
                } catch {
                    if submission.isQueued { engine.leaveAfterFailure() }
                    throw error
                }
            case .done(let result):
                home.unlock()
                return try result.get()
            case .commit(let c, _, let measure):
                home.unlock()
                let start = measure ? cbatch_now_ns() : 0
                let outcome = home.runCommit(coach: c)
                let took = measure ? cbatch_now_ns() &- start : -1
                try home.lock()
                let result = engine.finishSubmission(outcome, coach: c, took: took, me: me)
                home.unlock()
                return try result.get()
            case .cancelled:
                preconditionFailure("a blocking submission is never cancelled")
            }
        }
    }
}

extension SharedSegment {
    /// The batchers' limits, checked against the segment: (`maxBatchSize`, `maxBatchBytes`).
    func batchLimits(_ size: Int?, _ bytes: Int?) throws(SharedBatchError) -> (Int?, Int) {
        let capacity = configuration.arenaCapacity
        if let size, size < 1 { throw .invalidConfiguration("maxBatchSize must be at least 1 (got \(size))") }
        guard capacity >= 16 else {
            throw .invalidConfiguration(
                "a batcher needs a segment with an arenaCapacity of at least 16 bytes (segment \(name) has \(capacity))"
            )
        }
        if let bytes, !(16...capacity).contains(bytes) {
            throw .invalidConfiguration(
                "maxBatchBytes must be 16...\(capacity), the segment's arenaCapacity (got \(bytes))")
        }
        return (size, bytes ?? capacity)
    }

    /// Under the lock, inside `coach`: appends the record (`frame` bytes framed) if the batch's
    /// records stay within `limit` bytes; whether it did.
    func append(_ record: UnsafeRawBufferPointer, frame: Int, coach: Int, limit: Int) -> Bool {
        guard arenaUsed(coach) + frame <= limit else { return false }
        return (try? append(record, coach: coach)) != nil
    }
}

/// The bytes of `record`, contiguous, for the call of `body`.
func withRecordBytes<R>(_ record: some Collection<UInt8>, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    if let result = try record.withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
        return result
    }
    return try Array(record).withUnsafeBytes(body)
}

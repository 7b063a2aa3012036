import CBatchCore

/// The common case made simple: each task submits one item and gets the result of the batch that
/// carried it; the items of a batch are handed, as an array, to one async commit function.
///
/// The library owns the batch's state here, so the next batch fills while the current one
/// commits: the batcher is a pipeline of two coaches of one engine (docs/DESIGN.md), whose
/// commits run one at a time, in the order the batches closed. A batch is committed when the
/// last announced task has added its item (within the waiting policy's bounds, see
/// ``BatchWaiting``), or when `maxBatchSize` items are in it — never before the batch before it is
/// committed; then, if it is smaller than that batch, it waits for the tasks just served to come
/// back, up to the policy's bound (one commit's cost, and the yield budget). There is no timer
/// and no linger: alone, an item is committed at once.
///
/// ```swift
/// let batcher = AsyncBatcher<Row, Void>(maxBatchSize: 500) { rows in
///     try await db.insert(rows)          // one round trip for the whole batch
/// }
/// try await batcher.submit(row)          // returns once the batch with `row` is committed
/// ```
public final class AsyncBatcher<Item: Sendable, Result: Sendable>: Sendable {
    /// The items of each coach's batch. The items of a coach are touched only under the home's
    /// mutex by a submitter of that coach (while its batch fills), and by its commit function
    /// once the batch is closed (no task can add to a closed batch; the next batch of the coach
    /// starts after its last worker exited).
    @usableFromInline final class Pending: @unchecked Sendable {
        // Unchecked: every access is under the home's mutex or to a closed batch. One array per
        // coach, in memory of its own — not an array of arrays, whose shared outer buffer the
        // filling of one coach would modify (a uniqueness check, maybe a copy) while the other
        // coach's commit function reads it.
        @usableFromInline let items: UnsafeMutablePointer<[Item]>

        @inlinable init() {
            items = .allocate(capacity: 2)
            items.initialize(repeating: [], count: 2)
        }

        deinit {
            items.deinitialize(count: 2)
            items.deallocate()
        }
    }

    @usableFromInline let pending: Pending
    @usableFromInline let engine: _BatchEngine<_AsyncHome<Result>>
    /// The largest batch, or `nil` for no limit. Immutable.
    public let maxBatchSize: Int?

    /// A batcher whose batches are committed by `commit`.
    /// - Parameters:
    ///   - maxBatchSize: the most items in one batch; the item that fills a batch commits it at
    ///     once, and later items go to the next batch. `nil`: no limit. At least 1.
    ///   - waiting: how submitters wait for each other; ``BatchWaiting/adaptive`` by default.
    ///   - commit: gets the items of one batch, in the order they were added; what it returns or
    ///     throws is what every submitter of the batch gets. Commits run one at a time, in
    ///     order. It is not cancelled when one of the submitters of a batch of several is
    ///     cancelled.
    public init(
        maxBatchSize: Int? = nil, waiting: BatchWaiting = .adaptive,
        commit: @escaping @Sendable (_ items: [Item]) async throws -> Result
    ) {
        if let maxBatchSize {
            precondition(maxBatchSize >= 1, "AsyncBatcher needs a maxBatchSize of at least 1 (got \(maxBatchSize))")
        }
        let pending = Pending()
        self.pending = pending
        self.maxBatchSize = maxBatchSize
        engine = _BatchEngine(
            home: _AsyncHome(coaches: 2) { coach in try await commit(pending.items[coach]) },
            waiting: _WaitPolicy(waiting, serialCommits: true))
    }

    /// Adds `item` to the batch being filled and returns that batch's result once it is
    /// committed. Adding and the decision to commit or wait take one step under the lock; a task
    /// suspends only when it must wait (for its batch's outcome, or while both batches are busy).
    ///
    /// - Throws: the commit function's error for the whole batch; `CancellationError` if the task
    ///   was cancelled before its item was added (the item is then in no batch). Once the item is
    ///   added, cancellation is ignored: the caller gets the batch's outcome, so it always learns
    ///   whether its item was saved.
    @inlinable
    nonisolated(nonsending) public func submit(_ item: Item) async throws -> Result {
        let pending = self.pending
        return try await engine.asyncSubmit(maxBatchSize: maxBatchSize) { c, index in
            if index == 0 { pending.items[c].removeAll(keepingCapacity: true) }
            pending.items[c].append(item)
            return true
        }
    }
}

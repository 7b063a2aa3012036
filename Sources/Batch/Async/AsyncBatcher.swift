/// The common case made simple: each task submits one item and gets the result of the batch that
/// carried it; the items of a batch are handed, as an array, to one async commit function.
///
/// Built on ``AsyncCoordinator`` (one batch in flight at a time). A batch is committed when the
/// last announced task has added its item — there is no timer and no linger: under load, items
/// that arrive while a batch commits form the next batch; alone, an item is committed at once.
///
/// ```swift
/// let batcher = AsyncBatcher<Row, Void>(maxBatchSize: 500) { rows in
///     try await db.insert(rows)          // one round trip for the whole batch
/// }
/// try await batcher.submit(row)          // returns once the batch with `row` is committed
/// ```
public final class AsyncBatcher<Item: Sendable, Result: Sendable>: Sendable {
    /// The items of the batch being filled. Touched only by the owner of the coordinator's
    /// critical section, and by the commit function once the batch is closed (no worker can
    /// add to a closed batch; the next batch starts after its last worker exited).
    @usableFromInline final class Pending: @unchecked Sendable {
        @usableFromInline var items: [Item] = []
        @inlinable init() {}
    }

    @usableFromInline let pending: Pending
    @usableFromInline let coordinator: AsyncCoordinator<Result>
    /// The largest batch, or `nil` for no limit. Immutable.
    public let maxBatchSize: Int?

    /// A batcher whose batches are committed by `commit`.
    /// - Parameters:
    ///   - maxBatchSize: the most items in one batch; the item that fills a batch commits it at
    ///     once, and later items go to the next batch. `nil`: no limit. At least 1.
    ///   - commit: gets the items of one batch, in the order they were added; what it returns or
    ///     throws is what every submitter of the batch gets. It is not cancelled when one of the
    ///     submitters of a batch of several is cancelled.
    public init(maxBatchSize: Int? = nil, commit: @escaping @Sendable (_ items: [Item]) async throws -> Result) {
        if let maxBatchSize {
            precondition(maxBatchSize >= 1, "AsyncBatcher needs a maxBatchSize of at least 1 (got \(maxBatchSize))")
        }
        let pending = Pending()
        self.pending = pending
        self.maxBatchSize = maxBatchSize
        coordinator = AsyncCoordinator { try await commit(pending.items) }
    }

    /// Adds `item` to the batch being filled (suspending while a batch commits) and returns that
    /// batch's result once it is committed.
    ///
    /// - Throws: the commit function's error for the whole batch; `CancellationError` if the task
    ///   was cancelled before its item was added (the item is then in no batch). Once the item is
    ///   added, cancellation is ignored: the caller gets the batch's outcome, so it always learns
    ///   whether its item was saved.
    @inlinable
    nonisolated(nonsending) public func submit(_ item: Item) async throws -> Result {
        try await coordinator.batch { section in
            if section.isFirst { pending.items.removeAll(keepingCapacity: true) }
            pending.items.append(item)
            if let maxBatchSize, section.index + 1 >= maxBatchSize { section.trigger() }
            return try await section.commit()
        }
    }
}

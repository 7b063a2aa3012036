// The baseline of `batch-bench tasks`: the batcher a Swift developer writes by hand
// without the library. An actor keeps the pending items and the continuations of their
// submitters; the first submitter of an empty batch flushes it; while a batch commits (the actor
// is free during the commit's `await`), new submits fill the next batch, whose first submitter
// waits for the commit in flight and then flushes. Commits are one at a time and in order. No
// timers, no limit on the batch size, no cancellation handling.

actor ActorBatcher<Item: Sendable, Output: Sendable> {
    private let commit: @Sendable ([Item]) async throws -> Output
    /// The items of the batch being filled; the first of them belongs to its flusher.
    private var items: [Item] = []
    /// The submitters of the batch being filled, except its flusher.
    private var waiters: [CheckedContinuation<Output, any Error>] = []
    /// Whether a batch is being committed.
    private var committing = false
    /// The flusher of the next batch, waiting for the commit in flight to end.
    private var nextFlusher: CheckedContinuation<Void, Never>?

    init(commit: @escaping @Sendable ([Item]) async throws -> Output) {
        self.commit = commit
    }

    /// Adds `item` to the batch being filled and returns that batch's result once committed.
    func submit(_ item: Item) async throws -> Output {
        items.append(item)
        if items.count > 1 {
            // Someone else flushes this batch.
            return try await withCheckedThrowingContinuation { waiters.append($0) }
        }
        // The first of an empty batch: flush it once the commit in flight (if any) is done.
        if committing {
            await withCheckedContinuation { nextFlusher = $0 }
        }
        committing = true
        let batch = items
        let batchWaiters = waiters
        items.removeAll(keepingCapacity: true)
        waiters.removeAll(keepingCapacity: true)
        let outcome: Result<Output, any Error>
        do {
            outcome = .success(try await commit(batch))
        } catch {
            outcome = .failure(error)
        }
        committing = false
        for waiter in batchWaiters { waiter.resume(with: outcome) }
        if let next = nextFlusher {
            nextFlusher = nil
            next.resume()
        }
        return try outcome.get()
    }
}

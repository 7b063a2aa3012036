import Batch

/// The books of a test: the items of the batch being filled, and for every committed batch (by
/// its number) the items it contained. A commit function built with `commitBatch()` closes the
/// current batch and returns its number.
package final class Ledger: Sendable {
    package init() {}

    package struct State {
        package var filling: [Int] = []
        package var committed: [[Int]] = []
    }
    package let state = Locked(State())

    /// Inside the critical section: add `item` to the filling batch (reset it when first).
    package func add(_ item: Int, first: Bool) {
        state.withLock {
            if first { $0.filling = [] }
            $0.filling.append(item)
        }
    }

    /// The commit function: records the filling batch and returns its number.
    package func commitBatch() -> Int {
        state.withLock {
            $0.committed.append($0.filling)
            return $0.committed.count - 1
        }
    }

    package func batch(_ number: Int) -> [Int] { state.withLock { $0.committed[number] } }
    package var batches: Int { state.withLock { $0.committed.count } }
    package var allCommitted: [Int] { state.withLock { $0.committed.flatMap { $0 } } }
}

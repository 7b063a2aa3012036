// Batched mode's pieces that need only the BatchIPC of today: the segment spawn creates, and the
// commit function's side, which inserts a batch's records in one transaction.

import BatchIPC
import Synchronization

enum BatchSegment {
    /// The capacities of the segment of a run of `workers` processes with `tasks` rows in flight
    /// each: a participant per task (plus spawn and a spare), a process entry per worker, and an
    /// arena that holds one record of every task twice over, so that a batch never overflows.
    ///
    /// One coach: every submitter here has one row in flight and waits for it, so while a batch
    /// commits the others all queue for the next one — one batch at a time gathers them all.
    /// (Two coaches would let the next batch start filling during the commit; measured at N = 8
    /// it halves the mean batch, 7.3 → 3.9 rows, and loses a third of the rows/s.)
    static func configuration(workers: Int, tasks: Int, payload: Int) -> SharedBatchConfiguration {
        let inFlight = workers * tasks
        let framed = 8 + (8 + payload + 7) / 8 * 8  // the arena's frame around a record of 8 + payload bytes
        return SharedBatchConfiguration(
            coaches: 1, participants: inFlight + 2, processes: workers + 2, arenaCapacity: 2 * inFlight * framed)
    }

    /// The most rows in flight at once (workers × tasks) that a segment can take.
    static var inFlightLimit: Int { SharedBatchConfiguration.participantLimit.upperBound - 2 }
}

/// The commit function's connection, in every worker process (the batch's last worker commits in
/// its own process). The lock makes it sound whatever thread runs the commit function.
final class BatchCommitter {
    private let inserter: RowInserter
    private let lock = Mutex<Void>(())

    init(database: String, busyTimeout: Int) throws(SQLiteError) {
        inserter = try RowInserter(path: database, busyTimeout: busyTimeout)
    }

    /// Inserts the batch's `records` (`Rows.record` each) in one transaction, with a new batch id.
    /// - Returns: what every worker of the batch is told.
    /// - Throws: the transaction's error; nothing of the batch is then in the database.
    func commit(_ records: [UnsafeRawBufferPointer]) throws -> BatchReceipt {
        let batch = BatchIDs.next()
        try lock.withLock { _ in
            try inserter.transaction(batch: batch) { insert in
                for record in records {
                    guard let row = Rows.decode(record) else {
                        throw RuntimeFailure("a record of \(record.count) bytes is not a row")
                    }
                    try insert(row.id, row.payload)
                }
            }
        }
        return BatchReceipt(batch: batch, size: UInt32(records.count))
    }
}

// @unchecked Sendable: the connection is touched only under `lock`.
extension BatchCommitter: @unchecked Sendable {}

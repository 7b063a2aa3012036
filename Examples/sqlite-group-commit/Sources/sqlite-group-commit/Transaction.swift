// The write transaction both modes run: `BEGIN IMMEDIATE`, one prepared INSERT per row, `COMMIT`.
// Plain mode runs it once per row; batched mode once per batch, in the batch's committer.

/// A worker's connection to the database, with the statements of its transaction prepared once.
/// Used by one thread at a time.
final class RowInserter {
    private let connection: SQLiteConnection
    private let begin: SQLiteStatement
    private let commit: SQLiteStatement
    private let rollback: SQLiteStatement
    private let insert: SQLiteStatement

    /// Opens `path` for writing: `synchronous=FULL` (a commit is durable once COMMIT returns; in
    /// WAL mode, one fsync of the WAL per transaction) and SQLite's busy handler for
    /// `busyTimeout` milliseconds.
    init(path: String, busyTimeout: Int) throws(SQLiteError) {
        connection = try SQLiteConnection(path: path)
        connection.setBusyTimeout(milliseconds: busyTimeout)
        try connection.execute("PRAGMA synchronous=FULL")
        let journal = try connection.text("PRAGMA journal_mode")
        guard journal?.lowercased() == "wal" else {
            throw SQLiteError(operation: "PRAGMA journal_mode", code: 0, message: "\(path) is not in WAL mode")
        }
        begin = try connection.prepare("BEGIN IMMEDIATE")
        commit = try connection.prepare("COMMIT")
        rollback = try connection.prepare("ROLLBACK")
        insert = try connection.prepare(Rows.insert)
    }

    /// Inserts the rows that `rows` hands to its argument, as one transaction whose rows carry
    /// `batch`. On SQLITE_BUSY ("database is locked", once SQLite's busy handler gave up) the
    /// whole transaction is rolled back and run again, as often as it takes (spawn's --timeout
    /// bounds the run); every busy error is counted in `BusyErrors`.
    /// - Parameter rows: calls its argument once per row, with the row's payload (valid during
    ///   that call only); called again when the transaction is retried.
    /// - Throws: the first error that is not SQLITE_BUSY; nothing of the transaction is then in
    ///   the database.
    func transaction(
        batch: UInt64, rows: (_ insert: (RowID, UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) throws {
        while true {
            do {
                try begin.run()
                do {
                    try rows { id, payload in try insertRow(id, payload: payload, batch: batch) }
                    try commit.run()
                    return
                } catch {
                    if connection.inTransaction { try? rollback.run() }
                    throw error
                }
            } catch let error as SQLiteError where error.isBusy {
                BusyErrors.record()
            }
        }
    }

    private func insertRow(_ id: RowID, payload: UnsafeRawBufferPointer, batch: UInt64) throws(SQLiteError) {
        defer { insert.reset() }
        try insert.bind(1, Int64(id.worker))
        try insert.bind(2, Int64(id.seq))
        try insert.bind(3, Int64(bitPattern: batch))
        try insert.bindStatic(4, payload)
        _ = try insert.step()
    }
}

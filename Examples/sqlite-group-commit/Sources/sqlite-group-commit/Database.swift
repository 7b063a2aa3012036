// The run's database: created by spawn in WAL mode with the one table, read back by the check.

/// A row as the check reads it.
struct StoredRow {
    let id: RowID
    let batch: UInt64
    let payload: [UInt8]
}

enum Database {
    /// Creates the database at `path` (which must not exist) in WAL mode, with the table.
    /// - Returns: the connection that created it, for spawn to hold until the check.
    static func create(path: String) throws -> SQLiteConnection {
        if Sys.exists(path) { throw RuntimeFailure("--db \(path) exists: remove it or name another path") }
        let connection = try SQLiteConnection(path: path, create: true)
        // WAL is a property of the file: set once here, every later connection finds it.
        guard try connection.text("PRAGMA journal_mode=WAL")?.lowercased() == "wal" else {
            throw RuntimeFailure("\(path): SQLite refused WAL mode (is it on a file system without shared memory?)")
        }
        try connection.execute(Rows.createTable)
        return connection
    }

    /// Every row, read through `connection`.
    static func rows(_ connection: SQLiteConnection) throws(SQLiteError) -> [StoredRow] {
        let statement = try connection.prepare(Rows.selectAll)
        var rows: [StoredRow] = []
        while try statement.step() {
            let id = RowID(worker: Int(statement.int64(0)), seq: Int(statement.int64(1)))
            rows.append(StoredRow(id: id, batch: UInt64(bitPattern: statement.int64(2)), payload: statement.blob(3)))
        }
        return rows
    }
}

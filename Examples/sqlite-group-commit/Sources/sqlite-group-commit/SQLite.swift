// A minimal wrapper over the system's SQLite C API: a connection, a prepared statement, and the
// error that keeps SQLite's result code (so that SQLITE_BUSY can be told from other failures).

import CSQLite

/// A failed SQLite call: the operation, SQLite's (extended) result code and message.
struct SQLiteError: Error, CustomStringConvertible {
    let operation: String
    let code: Int32
    let message: String

    /// SQLITE_BUSY (any extended code of it: "database is locked").
    var isBusy: Bool { code & 0xff == SQLITE_BUSY }

    var description: String { "\(operation): \(message) (SQLite code \(code))" }
}

/// One connection. Used by one thread at a time (opened with SQLITE_OPEN_NOMUTEX).
final class SQLiteConnection {
    private let handle: OpaquePointer
    let path: String

    /// Opens (or with `create`, creates) the database at `path`, with extended result codes.
    init(path: String, create: Bool = false, readOnly: Bool = false) throws(SQLiteError) {
        var flags = SQLITE_OPEN_NOMUTEX | (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE)
        if create { flags |= SQLITE_OPEN_CREATE }
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close_v2(db)
            throw SQLiteError(operation: "open \(path)", code: rc, message: message)
        }
        sqlite3_extended_result_codes(db, 1)
        handle = db
        self.path = path
    }

    deinit { sqlite3_close_v2(handle) }

    /// How long SQLite's own busy handler retries a locked database before SQLITE_BUSY.
    func setBusyTimeout(milliseconds: Int) {
        sqlite3_busy_timeout(handle, Int32(milliseconds))
    }

    /// Runs `sql` (one or more statements, no results).
    func execute(_ sql: String) throws(SQLiteError) {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        defer { sqlite3_free(message) }
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            throw SQLiteError(operation: sql, code: sqlite3_extended_errcode(handle), message: text)
        }
    }

    /// The first column of the first row of `sql`, as text.
    func text(_ sql: String) throws(SQLiteError) -> String? {
        let statement = try prepare(sql)
        guard try statement.step() else { return nil }
        return statement.text(0)
    }

    /// Compiles `sql` once, to run many times.
    func prepare(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error("prepare \(sql)") }
        return SQLiteStatement(statement, connection: self)
    }

    /// Whether a transaction is open (SQLite is not in autocommit mode).
    var inTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// The connection's last error, for `operation`.
    func error(_ operation: String) -> SQLiteError {
        SQLiteError(
            operation: operation, code: sqlite3_extended_errcode(handle),
            message: String(cString: sqlite3_errmsg(handle)))
    }
}

/// A prepared statement of a connection; bound, stepped and reset by one thread at a time.
final class SQLiteStatement {
    private let handle: OpaquePointer
    private let connection: SQLiteConnection

    fileprivate init(_ handle: OpaquePointer, connection: SQLiteConnection) {
        self.handle = handle
        self.connection = connection
    }

    deinit { sqlite3_finalize(handle) }

    func bind(_ index: Int32, _ value: Int64) throws(SQLiteError) {
        if sqlite3_bind_int64(handle, index, value) != SQLITE_OK { throw connection.error("bind") }
    }

    /// Binds `bytes` without copying them: valid until the next `reset()` (SQLITE_STATIC), so
    /// call this inside the scope that keeps `bytes` alive and reset before leaving it.
    func bindStatic(_ index: Int32, _ bytes: UnsafeRawBufferPointer) throws(SQLiteError) {
        let base = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        if sqlite3_bind_blob(handle, index, base, Int32(bytes.count), nil) != SQLITE_OK {
            throw connection.error("bind")
        }
    }

    /// Runs to the next row: true for a row, false when done.
    func step() throws(SQLiteError) -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error("step \(String(cString: sqlite3_sql(handle)))")
        }
    }

    /// Runs a statement that returns no row, and makes it ready to run again.
    func run() throws(SQLiteError) {
        defer { reset() }
        _ = try step()
    }

    /// Ready to run again; the bindings are cleared too.
    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    func text(_ column: Int32) -> String? {
        sqlite3_column_text(handle, column).map { String(cString: $0) }
    }

    /// The bytes of a blob column, copied.
    func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(handle, column))
        guard count > 0, let base = sqlite3_column_blob(handle, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: base, count: count))
    }
}

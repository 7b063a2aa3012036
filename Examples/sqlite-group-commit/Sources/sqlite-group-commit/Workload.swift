// What every worker of a run does, as spawn reads it from its command line and hands it on to
// each worker's command line.

struct Workload: Sendable {
    /// Rows per worker.
    let rows: Int
    let mode: Mode
    /// Rows in flight per worker: threads (plain) or async tasks (batched).
    let tasks: Int
    /// Payload bytes per row.
    let payload: Int
    /// SQLite's busy timeout per connection, ms.
    let busyTimeout: Int

    init(_ p: ParsedCommand) throws(UsageError) {
        rows = try p.int("rows")
        mode = try p.mode()
        tasks = try p.int("tasks")
        payload = try p.int("payload")
        busyTimeout = try p.int("busy-timeout")
    }

    /// The options that give a worker this workload.
    var arguments: [String] {
        [
            "--rows", "\(rows)", "--mode", mode.rawValue, "--tasks", "\(tasks)", "--payload", "\(payload)",
            "--busy-timeout", "\(busyTimeout)",
        ]
    }
}

// Plain mode, what users write today: every row is its own `BEGIN IMMEDIATE … COMMIT` on the
// worker's connection, SQLite's busy handler waits for the lock (up to --busy-timeout), and a
// "database is locked" that still comes back is counted and the transaction run again.
// `--tasks T` runs T threads, each with a connection of its own (a connection is not shared).

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

enum PlainMode {
    static func run(_ options: WorkerOptions, rows: RowSequence, report: ReportFile) throws {
        // Connections are opened before the start: setup is not timed.
        var inserters: [RowInserter] = []
        for _ in 0..<options.work.tasks {
            inserters.append(try RowInserter(path: options.database, busyTimeout: options.work.busyTimeout))
        }
        try WorkerStart.arrive()
        let boxes = inserters.map { InserterBox($0) }
        try Threads.run(count: options.work.tasks) { index in
            try insertRows(options, rows: rows, report: report, inserter: boxes[index].inserter)
        }
    }

    /// One thread's loop: takes rows until none is left.
    private static func insertRows(
        _ options: WorkerOptions, rows: RowSequence, report: ReportFile, inserter: RowInserter
    ) throws {
        while let seq = rows.take() {
            let id = RowID(worker: options.id, seq: seq)
            let payload = Rows.payload(id, size: options.work.payload)
            try report.submitted(seq)
            let start = Sys.now()
            let batch = BatchIDs.next()
            do {
                try inserter.transaction(batch: batch) { insert in
                    try payload.withUnsafeBytes { try insert(id, $0) }
                }
                try report.outcome(seq, .ok, latency: Sys.now() - start, receipt: BatchReceipt(batch: batch, size: 1))
            } catch let error as RuntimeFailure {
                throw error
            } catch {
                FailureNote.note(worker: options.id, seq: seq, error)
                try report.outcome(seq, Outcome(error), latency: Sys.now() - start, receipt: nil)
            }
        }
    }
}

/// A connection handed to exactly one thread.
private final class InserterBox: @unchecked Sendable {
    // @unchecked Sendable: `Threads.run` gives box i to thread i only; nothing else touches it.
    let inserter: RowInserter

    init(_ inserter: RowInserter) { self.inserter = inserter }
}

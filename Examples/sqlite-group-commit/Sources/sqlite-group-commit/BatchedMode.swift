// Batched mode: every row goes through BatchIPC's `AsyncSharedBatcher`, shared by all worker
// processes through the segment spawn created; the batch's last worker runs the commit function
// (`BatchCommitter`), which inserts the whole batch in one `BEGIN IMMEDIATE … COMMIT`, and every
// worker of the batch gets its receipt (or its error). `--tasks T` runs T async tasks per
// process on the default cooperative pool, each submitting its rows one after the other; with
// T = 1 a process has one row in flight, as in plain mode, so the two modes compare at equal
// concurrency.

import BatchIPC

enum BatchedMode {
    static func run(_ options: WorkerOptions, rows: RowSequence, report: ReportFile) throws {
        let segment = try SharedSegment.open(name: options.segment!)
        defer { segment.close() }
        let committer = try BatchCommitter(database: options.database, busyTimeout: options.work.busyTimeout)
        let batcher = try AsyncSharedBatcher<BatchReceipt>(segment: segment) { batch in
            try committer.commit(batch.records)
        }
        try WorkerStart.arrive()
        try Threads.waitForTask {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<options.work.tasks {
                    group.addTask { try await insertRows(options, rows: rows, report: report, batcher: batcher) }
                }
                try await group.waitForAll()
            }
        }
    }

    /// One task's loop: submits rows one after the other until none is left.
    private static func insertRows(
        _ options: WorkerOptions, rows: RowSequence, report: ReportFile,
        batcher: AsyncSharedBatcher<BatchReceipt>
    ) async throws {
        while let seq = rows.take() {
            let id = RowID(worker: options.id, seq: seq)
            let record = Rows.record(id, payload: Rows.payload(id, size: options.work.payload))
            try report.submitted(seq)
            let start = Sys.now()
            do {
                let receipt = try await batcher.submit(record)
                try report.outcome(seq, .ok, latency: Sys.now() - start, receipt: receipt)
            } catch let error as RuntimeFailure {
                throw error
            } catch {
                FailureNote.note(worker: options.id, seq: seq, error)
                try report.outcome(seq, Outcome(error), latency: Sys.now() - start, receipt: nil)
            }
        }
    }
}

// The summary of a run: for people, or one JSON object (`--json`).

extension CheckResult {
    func json(_ o: SpawnOptions) -> JSON {
        let failureCounts = Outcome.allCases.filter { $0.isFailure }.map { ($0.rawValue, JSON.int(failures[$0] ?? 0)) }
        return .object([
            ("mode", .string(o.work.mode.rawValue)),
            ("workers", .int(o.workers)),
            ("tasks", .int(o.work.tasks)),
            ("rows", .int(rows)),
            ("rows_per_worker", .int(o.work.rows)),
            ("payload_bytes", .int(o.work.payload)),
            ("busy_timeout_ms", .int(o.work.busyTimeout)),
            ("seconds", .number(elapsed)),
            ("rows_per_second", .number(rowsPerSecond)),
            ("p50_ms", percentile(0.5).map(JSON.number) ?? .null),
            ("p99_ms", percentile(0.99).map(JSON.number) ?? .null),
            ("max_ms", percentile(1).map(JSON.number) ?? .null),
            ("batches", .int(batches)),
            ("mean_batch_size", .number(meanBatchSize)),
            ("largest_batch", .int(largestBatch)),
            ("busy_errors", .int(busyErrors)),
            ("acknowledged", .int(acknowledged)),
            ("in_db", .int(inDB)),
            ("lost", .int(lost)),
            ("duplicated", .int(duplicated)),
            ("failed", .int(failed)),
            ("failures", .object(failureCounts)),
            ("failed_in_db", .int(failedInDB)),
            ("unknown", .int(unknown)),
            ("unknown_in_db", .int(unknownInDB)),
            ("unexpected", .int(unexpected)),
            ("corrupt", .int(corrupt)),
            ("wrong_batch", .int(wrongBatch)),
            ("batch_size_mismatch", .int(batchSizeMismatch)),
            ("crashes_planned", .int(o.crash)),
            ("killed", .int(killed)),
            ("crashes_missed", .int(crashesMissed)),
            ("load_average", loadAverage.map(JSON.number) ?? .null),
            ("problems", .array(problems.map(JSON.string))),
            ("ok", .bool(ok)),
        ])
    }

    func human(_ o: SpawnOptions, database: String?) -> String {
        func ms(_ value: Double?) -> String { value.map { "\(rounded($0, 2)) ms" } ?? "-" }
        let perWorker = o.work.tasks == 1 ? "1 row" : "\(o.work.tasks) rows"
        let what = o.work.mode == .plain ? "a transaction per row" : "a transaction per batch (AsyncSharedBatcher)"
        var lines = [
            "\(o.work.mode.rawValue): \(o.workers) workers × \(o.work.rows) rows, \(perWorker) in flight each, \(what)",
            "  \(o.work.payload)-byte payloads, WAL, synchronous=FULL, busy timeout \(o.work.busyTimeout) ms",
            "rows         \(acknowledged) acknowledged in \(rounded(elapsed, 3)) s: \(rounded(rowsPerSecond, 1)) rows/s",
            "latency      p50 \(ms(percentile(0.5))), p99 \(ms(percentile(0.99))), max \(ms(percentile(1)))"
                + " (submitted → acknowledged)",
            "batches      \(batches) in the database, mean size \(rounded(meanBatchSize, 2)), largest \(largestBatch)",
            "busy errors  \(busyErrors) (\"database is locked\" after the busy timeout; each retried)",
        ]
        if o.crash > 0 {
            lines.append(
                "crashes      \(killed) of \(o.crash) workers killed with SIGKILL"
                    + (crashesMissed > 0 ? " (\(crashesMissed) finished first)" : "")
                    + "; unknown rows \(unknown), \(unknownInDB) of them in the database")
        }
        let failedText =
            failures.isEmpty
            ? "" : " (" + failures.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ") + ")"
        lines += [
            "check        acknowledged \(acknowledged), in db \(inDB), lost \(lost), duplicated \(duplicated), "
                + "unexpected \(unexpected)",
            "             failed \(failed)\(failedText), in db \(failedInDB); unknown \(unknown), in db \(unknownInDB)",
        ]
        if let loadAverage {
            lines.append("load         \(rounded(loadAverage, 2)) (1-minute load average at the end)")
        }
        if let database { lines.append("database     \(database)") }
        lines += problems.map { "problem      \($0)" }
        lines.append(ok ? "ok" : "FAILED")
        return lines.joined(separator: "\n")
    }

    private func rounded(_ value: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        return String((value * scale).rounded() / scale)
    }
}

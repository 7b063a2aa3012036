// The check of a run: the database against what every worker was told.
//
// - every row a worker was told is committed (`A`) is in the database exactly once, in the batch
//   its receipt names, and that batch has as many rows as the receipt says (`lost`, `duplicated`,
//   `wrong_batch`, `batch_size_mismatch`);
// - no row of a failed batch (`F`) is in the database (`failed_in_db`);
// - no row is in the database that no worker submitted (`S`), and every row's payload is the one
//   its identity gives (`unexpected`, `corrupt`);
// - a row whose fate its worker was told is unknown (`U`: the committer died), or that a killed
//   worker submitted without learning its outcome, may be in the database or not (`unknown`,
//   `unknown_in_db`);
// - a failure is explained only by a kill (`worker_crashed`, `worker_failed`: a batch-mate died
//   inside the batch); any other failed row fails the check;
// - every worker that was not killed exits 0 having reported the outcome of each of its rows.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

struct CheckResult {
    var rows = 0
    var elapsed = 0.0
    var acknowledged = 0
    var failed = 0
    var failures: [Outcome: Int] = [:]
    var unknown = 0
    var unknownInDB = 0
    var inDB = 0
    var lost = 0
    var duplicated = 0
    var failedInDB = 0
    var unexpected = 0
    var corrupt = 0
    var wrongBatch = 0
    var batchSizeMismatch = 0
    var batches = 0
    var largestBatch = 0
    var busyErrors = 0
    /// Latencies of acknowledged rows, µs, sorted.
    var latencies: [Int] = []
    var killed = 0
    /// Victims that finished before their moment came.
    var crashesMissed = 0
    var loadAverage: Double?
    var problems: [String] = []

    var ok: Bool { problems.isEmpty }
    var rowsPerSecond: Double { elapsed > 0 ? Double(acknowledged) / elapsed : 0 }
    var meanBatchSize: Double { batches > 0 ? Double(inDB) / Double(batches) : 0 }

    /// The latency (ms) at `fraction` of the acknowledged rows (nearest rank), nil without any.
    func percentile(_ fraction: Double) -> Double? {
        guard !latencies.isEmpty else { return nil }
        let rank = Int((fraction * Double(latencies.count)).rounded(.up))
        return Double(latencies[min(max(rank, 1), latencies.count) - 1]) / 1000
    }
}

enum Check {
    static func run(
        options o: SpawnOptions, workers: [WorkerProcess], database: SQLiteConnection, elapsed: Double
    ) throws -> CheckResult {
        var r = CheckResult()
        r.rows = o.workers * o.work.rows
        r.elapsed = elapsed
        r.loadAverage = Sys.loadAverage()

        let stored = try Database.rows(database)
        r.inDB = stored.count
        var copies: [RowID: Int] = [:]
        var batchOf: [RowID: UInt64] = [:]
        var batchSizes: [UInt64: Int] = [:]
        for row in stored {
            copies[row.id, default: 0] += 1
            batchOf[row.id] = row.batch
            batchSizes[row.batch, default: 0] += 1
            if row.payload != Rows.payload(row.id, size: o.work.payload) { r.corrupt += 1 }
        }
        r.duplicated = copies.values.reduce(0) { $0 + max(0, $1 - 1) }
        r.batches = batchSizes.count
        r.largestBatch = batchSizes.values.max() ?? 0

        var submittedByAnyone = Set<RowID>()
        var wrongSizeBatches = Set<UInt64>()
        var crashExplainsFailures = false
        for w in workers {
            let killed = w.killed && w.signal == SIGKILL && w.killAtLine != nil
            if killed { r.killed += 1 }
            if w.killAtLine != nil && !killed { r.crashesMissed += 1 }
            crashExplainsFailures = crashExplainsFailures || (w.killed && w.signal == SIGKILL)
            let lines = ReportLine.parse((try? Sys.readFile(w.reportPath)) ?? [])
            var submitted = Set<Int>()
            var outcomes: [Int: ReportLine] = [:]
            for line in lines {
                r.busyErrors += line.busyErrors
                if line.outcome == .submitted {
                    submitted.insert(line.seq)
                } else if outcomes.updateValue(line, forKey: line.seq) != nil {
                    r.problems.append("worker \(w.id) reported the outcome of row \(line.seq) twice")
                }
            }
            submittedByAnyone.formUnion(submitted.map { RowID(worker: w.id, seq: $0) })
            for (seq, line) in outcomes {
                let id = RowID(worker: w.id, seq: seq)
                let present = copies[id] ?? 0
                if !submitted.contains(seq) {
                    r.problems.append("worker \(w.id) reported row \(seq) without submitting it")
                }
                switch line.outcome {
                case .ok:
                    r.acknowledged += 1
                    r.latencies.append(line.latencyMicroseconds)
                    if present == 0 { r.lost += 1 }
                    if let receipt = line.receipt {
                        if present > 0 && batchOf[id] != receipt.batch { r.wrongBatch += 1 }
                        if batchSizes[receipt.batch] != Int(receipt.size) { wrongSizeBatches.insert(receipt.batch) }
                    }
                case .outcomeUnknown:
                    r.unknown += 1
                    if present > 0 { r.unknownInDB += 1 }
                default:
                    r.failed += 1
                    r.failures[line.outcome, default: 0] += 1
                    if present > 0 { r.failedInDB += 1 }
                }
            }
            let unanswered = submitted.filter { outcomes[$0] == nil }
            if w.killed && w.signal == SIGKILL {
                // A crash victim, or killed at the timeout (which spawn reports as the problem).
                r.unknown += unanswered.count
                r.unknownInDB += unanswered.filter { copies[RowID(worker: w.id, seq: $0)] != nil }.count
            } else if !w.exitedZero {
                r.problems.append("worker \(w.id) (pid \(w.pid)) ended with \(w.statusText)")
            } else if outcomes.count != o.work.rows || !unanswered.isEmpty {
                r.problems.append("worker \(w.id) reported the outcome of \(outcomes.count) of its \(o.work.rows) rows")
            }
        }
        r.unexpected = stored.filter { !submittedByAnyone.contains($0.id) }.count
        r.batchSizeMismatch = wrongSizeBatches.count
        r.latencies.sort()
        addProblems(&r, crashExplainsFailures: crashExplainsFailures)
        return r
    }

    private static func addProblems(_ r: inout CheckResult, crashExplainsFailures: Bool) {
        let counts: [(Int, String)] = [
            (r.lost, "acknowledged rows are missing from the database"),
            (r.duplicated, "extra copies of rows are in the database"),
            (r.failedInDB, "rows of failed transactions or batches are in the database"),
            (r.unexpected, "rows in the database were never submitted"),
            (r.corrupt, "rows in the database have a payload their identity does not give"),
            (r.wrongBatch, "acknowledged rows are in another batch than their receipt says"),
            (r.batchSizeMismatch, "batches hold another number of rows than their receipts say"),
        ]
        for (count, what) in counts where count > 0 { r.problems.append("\(count) \(what)") }
        if r.unknown > 0 && !crashExplainsFailures {
            r.problems.append("\(r.unknown) rows have an unknown outcome, and no worker was killed")
        }
        let unexplained = r.failures.filter { !(crashExplainsFailures && $0.key.isCrashFailure) }
        if !unexplained.isEmpty {
            let kinds = unexplained.sorted { $0.key.rawValue < $1.key.rawValue }.map {
                "\($0.key.rawValue) \($0.value)"
            }
            r.problems.append("rows failed without a crash to explain it: \(kinds.joined(separator: ", "))")
        }
    }
}

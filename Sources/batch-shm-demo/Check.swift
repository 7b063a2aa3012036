// The log check and the summary of a run.
//
// The check, from the workers' reports and a scan of the log:
// - every record a worker was told is committed (`ok`) is in the log exactly once;
// - no record of a cancelled, poisoned or failed batch is in the log;
// - records of an "outcome unknown" batch are counted apart (in the log or not, both are fine);
// - a record in the log that its worker never reported is allowed only for a worker killed by
//   crash injection or from outside, and only for the operation it was doing when it died;
// - a worker killed from outside (SIGKILL, SIGTERM, SIGINT or SIGHUP that --crash did not send)
//   is no failure: the record it was appending has an unknown fate, counted apart;
// - torn bytes in the log are allowed only when a committer, or a worker killed from outside,
//   may have died during its commit;
// - every other worker exits 0 having reported every operation.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

struct CheckResult {
    var workers = 0
    var coaches = 0
    var ops = 0
    var batches = 0
    var recordsInBatches = 0
    var histogram: [Int: Int] = [:]
    var elapsed = 0.0
    var acknowledged = 0
    var inLog = 0
    var lost = 0
    var duplicated = 0
    var failedInLog = 0
    var unknownInLog = 0
    var unknownNotInLog = 0
    var unreportedInLog = 0
    var unexpectedInLog = 0
    var tornBytes = 0
    var tornBatches = 0
    var errors: [(String, Int)] = []
    var crashesPlanned = 0
    var crashesInjected = 0
    var crashesByPhase: [(String, Int)] = []
    /// Workers killed by a signal that crash injection did not send.
    var killedFromOutside: [(pid: pid_t, signal: Int32)] = []
    /// Their operations in flight when they died: each record may be in the log or not.
    var fateUnknown = 0
    var fateUnknownInLog = 0
    var counters: SegmentCounters?
    var problems: [String] = []
    var ok: Bool { problems.isEmpty }

    var meanBatchSize: Double { batches == 0 ? 0 : Double(recordsInBatches) / Double(batches) }
    var opsPerSecond: Double { elapsed > 0 ? Double(ops) / elapsed : 0 }
}

enum Check {
    static func run(
        options o: SpawnOptions, workers: [WorkerProcess], logPath: String, elapsed: Double,
        counters: SegmentCounters?, timedOut: Bool, setupFailure: String?, readyCount: Int
    ) throws -> CheckResult {
        var r = CheckResult()
        r.workers = o.workers
        r.coaches = o.baseline == nil ? o.coaches : 0
        r.elapsed = elapsed
        r.counters = counters
        if let setupFailure { r.problems.append("could not start every worker: \(setupFailure)") }
        // Killed by a signal crash injection did not send (a timeout's kills are the timeout's).
        let outside = workers.filter { $0.killedFromOutside && !($0.killedBySIGKILL && $0.crash != nil) && !timedOut }
        let everyoneMeantToLive = outside.isEmpty && !workers.contains { $0.crash != nil }
        if workers.count == o.workers && readyCount < workers.count && everyoneMeantToLive {
            r.problems.append("only \(readyCount) of \(workers.count) workers got ready")
        }
        if timedOut { r.problems.append("timed out after \(o.timeout) s: workers killed (a hang?)") }

        let scan = try LogScan.scan(path: logPath, recordSize: o.recordSize)
        r.batches = scan.batchSizes.count + scan.tornBatches
        r.recordsInBatches = scan.records
        for s in scan.batchSizes { r.histogram[s, default: 0] += 1 }
        r.inLog = scan.copies.count
        r.tornBytes = scan.tornBytes
        r.tornBatches = scan.tornBatches
        r.duplicated = scan.copies.values.reduce(0) { $0 + max(0, $1 - 1) }

        var errorCounts: [OutcomeKind: Int] = [:]
        var reported = Set<UInt64>()
        var committingCrashes = 0
        var phaseCounts: [CrashPhase: Int] = [:]
        var workerExitProblems = 0
        var inFlight: [Int: Int] = [:]  // killed worker → the operation it was doing
        let killedOutside = Set(outside.map(\.id))
        for w in workers {
            let lines = ReportLine.parse((try? Sys.readFile(w.reportPath)) ?? [])
            r.ops += lines.count
            var seen = Set<Int>()
            for line in lines {
                let id = LogFormat.id(worker: w.id, seq: line.seq)
                if !seen.insert(line.seq).inserted {
                    r.problems.append("worker \(w.id) reported operation \(line.seq) twice")
                }
                reported.insert(id)
                let copies = scan.copies[id] ?? 0
                switch line.kind {
                case .ok:
                    r.acknowledged += 1
                    if copies == 0 { r.lost += 1 }
                case .outcomeUnknown:
                    errorCounts[.outcomeUnknown, default: 0] += 1
                    if copies > 0 { r.unknownInLog += 1 } else { r.unknownNotInLog += 1 }
                default:
                    errorCounts[line.kind, default: 0] += 1
                    if copies > 0 { r.failedInLog += 1 }
                }
            }
            if w.crash != nil { r.crashesPlanned += 1 }
            if w.killedBySIGKILL && w.crash != nil {
                r.crashesInjected += 1
                phaseCounts[w.crash!, default: 0] += 1
                if w.crash == .committing { committingCrashes += 1 }
                inFlight[w.id] = lines.count
            } else if killedOutside.contains(w.id) {
                r.killedFromOutside.append((w.pid, w.signal))
                if lines.count < o.ops {
                    r.fateUnknown += 1
                    inFlight[w.id] = lines.count
                }
            } else if !w.exitedZero {
                workerExitProblems += 1
                if !timedOut { r.problems.append("worker \(w.id) (pid \(w.pid)) ended with \(w.statusText)") }
            } else if lines.count != o.ops {
                r.problems.append("worker \(w.id) reported \(lines.count) of \(o.ops) operations")
            }
        }
        for (id, _) in scan.copies where !reported.contains(id) {
            let worker = LogFormat.worker(of: id)
            if let op = inFlight[worker], op == LogFormat.seq(of: id), killedOutside.contains(worker) {
                r.fateUnknownInLog += 1
            } else if let op = inFlight[worker], op == LogFormat.seq(of: id) {
                r.unreportedInLog += 1
                // Killed while queued (nothing appended) or inside the batch before commit (the
                // batch is poisoned): that record must not be in the log.
                let phase = workers.first { $0.id == worker }?.crash
                if phase == .queued || phase == .entered { r.failedInLog += 1 }
            } else {
                r.unexpectedInLog += 1
            }
        }

        if r.lost > 0 { r.problems.append("\(r.lost) acknowledged records are missing from the log") }
        if r.duplicated > 0 { r.problems.append("\(r.duplicated) records are in the log more than once") }
        if r.failedInLog > 0 {
            r.problems.append("\(r.failedInLog) records of cancelled, poisoned or failed batches are in the log")
        }
        if r.unexpectedInLog > 0 {
            r.problems.append("\(r.unexpectedInLog) records in the log were never reported by a live worker")
        }
        if r.tornBytes > 0 && committingCrashes == 0 && outside.isEmpty {
            r.problems.append("\(r.tornBytes) torn bytes in the log, and no committer was killed")
        }
        if (errorCounts[.commitFailed] ?? 0) > 0 || (errorCounts[.other] ?? 0) > 0 {
            r.problems.append("commits failed: see errors")
        }
        var errs: [(String, Int)] = OutcomeKind.allCases.filter { $0 != .ok }.map {
            ($0.rawValue, errorCounts[$0] ?? 0)
        }
        errs.append(("worker_exit", workerExitProblems))
        errs.append(("timeout", timedOut ? 1 : 0))
        r.errors = errs
        r.crashesByPhase = CrashPhase.allCases.map { ($0.rawValue, phaseCounts[$0] ?? 0) }
        return r
    }
}

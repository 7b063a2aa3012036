// `worker`: one worker process. Started by `spawn` (re-executing this binary); appends --ops
// records one at a time through the shared batch (or, with --baseline flock, straight to the log
// under flock) and reports the outcome of each operation on its report file, one fixed-width
// line per operation, written with one write(2) as soon as the outcome is known, so that the
// report of a killed worker holds every outcome it was told.

import Batch

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Where a worker is killed by crash injection (docs/DESIGN.md §4, "The crash model").
enum CrashPhase: String, CaseIterable {
    /// After announcing itself (queueIn), before entering: nothing happens to the others.
    case queued
    /// Inside the critical section, after writing half of its record: the batch is poisoned.
    case entered
    /// Asleep in commit, its record in the batch: the batch goes on.
    case waiting
    /// The committer, during the commit function: the others are told "outcome unknown".
    case committing
}

/// What the commit function returns to every worker of a batch: which batch, and how big.
struct Receipt: BitwiseCopyable, Sendable {
    var batchID: UInt64
    var size: UInt32
}

/// The seam between a worker and what batches its records: the shared batch of BatchIPC, or the
/// flock baseline. `submit` returns when the record's outcome is known.
protocol RecordSink: AnyObject {
    /// Appends `record` (operation `seq`) to a batch and waits for the batch's outcome.
    /// - Parameter crash: when set, the process kills itself at that phase if it reaches it
    ///   during this call (a phase it does not reach is tried again on the next call).
    /// - Throws: the batch's error.
    func submit(seq: Int, record: [UInt8], crash: CrashPhase?) throws -> Receipt
}

/// How a commit makes its batch durable.
enum CommitMode: String {
    /// One write + one fdatasync per batch: real group commit.
    case fdatasync
    /// One write, then a busy wait of `--commit-cost` µs instead of the fdatasync.
    case simulate
}

/// The commit function's side: writes one batch frame to the log with one write, then makes it
/// durable. One per process; used only by the thread that runs the commit function.
final class LogWriter {
    let fd: Int32
    let mode: CommitMode
    let costMicroseconds: Int
    let recordSize: Int
    let pid = UInt64(UInt32(bitPattern: getpid()))
    /// Batches this process committed; with the pid, a batch id unique in the run.
    var committed: UInt64 = 0
    /// Set by crash injection: the next commit kills the process at `crashPoint`.
    var crashArmed = false
    /// 0: before the write; 1: after half the frame (a torn write); 2: after the write, before
    /// the fdatasync.
    var crashPoint = 0

    init(path: String, mode: CommitMode, costMicroseconds: Int, recordSize: Int) throws {
        fd = try Sys.open(path, O_WRONLY | O_APPEND | O_CREAT, 0o600)
        self.mode = mode
        self.costMicroseconds = costMicroseconds
        self.recordSize = recordSize
    }

    deinit { close(fd) }

    /// Commits `records` (whole records, back to back) as one batch.
    func commit(records: UnsafeRawBufferPointer) throws -> Receipt {
        committed += 1
        let id = pid << 32 | committed
        let frame = LogFormat.frame(records: records, recordSize: recordSize, batchID: id)
        if crashArmed && crashPoint == 0 { kill(getpid(), SIGKILL) }
        if crashArmed && crashPoint == 1 {
            try frame.withUnsafeBytes { b in
                try Sys.writeAll(fd, UnsafeRawBufferPointer(rebasing: b[0..<(b.count / 2)]), what: "log")
            }
            kill(getpid(), SIGKILL)
        }
        try Sys.writeAll(fd, frame, what: "log")
        if crashArmed { kill(getpid(), SIGKILL) }
        switch mode {
        case .fdatasync:
            if retrying({ fdatasync(fd) }) != 0 { throw DemoFailure.errno("fdatasync(log)") }
        case .simulate:
            Sys.spin(microseconds: costMicroseconds)
        }
        return Receipt(batchID: id, size: UInt32(records.count / recordSize))
    }
}

/// The baseline: what a user writes without the library. Every operation takes an exclusive
/// flock on the log, appends its one record as a batch of one, fdatasyncs, and unlocks.
final class FlockSink: RecordSink {
    let writer: LogWriter

    init(writer: LogWriter) { self.writer = writer }

    func submit(seq: Int, record: [UInt8], crash: CrashPhase?) throws -> Receipt {
        if retrying({ flock(writer.fd, LOCK_EX) }) != 0 { throw DemoFailure.errno("flock(log, LOCK_EX)") }
        defer { _ = flock(writer.fd, LOCK_UN) }
        return try record.withUnsafeBytes { try writer.commit(records: $0) }
    }
}

/// The outcome of one operation as a worker reports it.
enum OutcomeKind: String, CaseIterable {
    case ok
    case canceled
    case workerFailed = "worker_failed"
    case workerCrashed = "worker_crashed"
    case outcomeUnknown = "outcome_unknown"
    case busy
    case remote
    case commitFailed = "commit_failed"
    case other

    init(_ error: any Error) {
        switch error {
        case let e as BatchError:
            switch e {
            case .canceled: self = .canceled
            case .workerFailed: self = .workerFailed
            case .busy: self = .busy
            case .workerCrashed: self = .workerCrashed
            case .outcomeUnknown: self = .outcomeUnknown
            case .remote: self = .remote
            }
        case is DemoFailure: self = .commitFailed
        default: self = .other
        }
    }
}

/// One line of a worker's report: fixed width so that progress can count lines by file size.
enum ReportLine {
    static let width = 48

    static func format(seq: Int, kind: OutcomeKind, receipt: Receipt?) -> [UInt8] {
        var text = "\(seq) \(kind.rawValue) \(String(receipt?.batchID ?? 0, radix: 16)) \(receipt?.size ?? 0)"
        precondition(text.utf8.count < width, "report line too long")
        text += String(repeating: " ", count: width - 1 - text.utf8.count) + "\n"
        return Array(text.utf8)
    }

    /// (seq, kind, batchID, batchSize) per valid line.
    static func parse(_ bytes: [UInt8]) -> [(seq: Int, kind: OutcomeKind, batch: UInt64, size: Int)] {
        var out: [(Int, OutcomeKind, UInt64, Int)] = []
        var start = 0
        while start + width <= bytes.count {
            let fields = bytes[start..<(start + width - 1)].split(separator: UInt8(ascii: " "))
            start += width
            guard fields.count == 4, let seq = Int(String(decoding: fields[0], as: UTF8.self)),
                let kind = OutcomeKind(rawValue: String(decoding: fields[1], as: UTF8.self)),
                let batch = UInt64(String(decoding: fields[2], as: UTF8.self), radix: 16),
                let size = Int(String(decoding: fields[3], as: UTF8.self))
            else { continue }
            out.append((seq, kind, batch, size))
        }
        return out
    }
}

enum WorkerCommand {
    static func run(_ p: ParsedCommand) throws -> Int32 {
        try WorkerStart.tieToSpawn()
        guard let segment = p.string("segment") ?? (p.string("baseline") != nil ? "" : nil),
            let logPath = p.string("log"), let reportPath = p.string("report"), p.string("id") != nil
        else {
            throw UsageError(
                message: "worker needs --segment, --id, --log and --report (it is started by spawn)", command: .worker)
        }
        let id = try p.optionalInt("id")!
        let ops = try p.int("ops")
        let recordSize = try p.int("record-size")
        let coaches = try p.int("coaches")
        let cost = try p.int("commit-cost")
        let liveness = try p.int("liveness")
        let yieldBudget = try p.optionalInt("yield-budget")
        let assumedCommitCost = try p.optionalInt("assume-commit-cost")
        let mode = CommitMode(rawValue: try p.choice("commit", ["fdatasync", "simulate"], "fdatasync")!)!
        let crash = try p.choice("crash", CrashPhase.allCases.map(\.rawValue), nil).flatMap(CrashPhase.init)
        let crashAfter = try p.optionalInt("crash-after") ?? ops / 2
        let baseline = try p.choice("baseline", ["flock"], nil)

        let writer = try LogWriter(path: logPath, mode: mode, costMicroseconds: cost, recordSize: recordSize)
        // Which of the three commit crash points this worker uses: spread over the workers.
        writer.crashPoint = id % 3
        let report = try Sys.open(reportPath, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC, 0o600)
        let sink: any RecordSink =
            baseline != nil
            ? FlockSink(writer: writer)
            : try SharedSink.open(
                segment: segment, coaches: coaches, recordSize: recordSize, liveness: liveness,
                yieldBudget: yieldBudget, assumedCommitCost: assumedCommitCost, writer: writer)

        try WorkerStart.arrive()
        for seq in 0..<ops {
            let record = LogFormat.makeRecord(worker: id, seq: seq, size: recordSize)
            let line: [UInt8]
            do {
                let receipt = try sink.submit(seq: seq, record: record, crash: seq >= crashAfter ? crash : nil)
                line = ReportLine.format(seq: seq, kind: .ok, receipt: receipt)
            } catch {
                line = ReportLine.format(seq: seq, kind: OutcomeKind(error), receipt: nil)
            }
            try Sys.writeAll(report, line, what: reportPath)
        }
        close(report)
        return 0
    }
}

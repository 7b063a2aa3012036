// `worker`: one worker process, started by spawn. It opens the database (and, in batched mode,
// the segment), says it is ready, and at the start inserts its rows: `tasks` inserters take the
// next sequence number in turn and report each row when they hand it over and when they learn
// its outcome (Report.swift).

import BatchIPC
import Synchronization

/// A worker's options, as spawn passes them.
struct WorkerOptions: Sendable {
    let id: Int
    let database: String
    let reportPath: String
    let work: Workload
    let segment: String?

    init(_ p: ParsedCommand) throws(UsageError) {
        guard let id = try p.optionalInt("id"), let database = p.string("db"), let report = p.string("report")
        else {
            throw UsageError(message: "worker needs --id, --db and --report (spawn starts it)", command: .worker)
        }
        self.id = id
        self.database = database
        reportPath = report
        work = try Workload(p)
        segment = p.string("segment")
        if work.mode == .batched && segment == nil {
            throw UsageError(message: "a batched worker needs --segment", command: .worker)
        }
    }
}

/// The sequence numbers of a worker's rows, handed out in order to its inserters.
final class RowSequence: Sendable {
    private let next = Atomic<Int>(0)
    let count: Int

    init(count: Int) { self.count = count }

    /// The next row to insert, nil when all are taken.
    func take() -> Int? {
        let seq = next.add(1, ordering: .relaxed).oldValue
        return seq < count ? seq : nil
    }
}

/// The first failure a worker could not explain by a crash, printed once on stderr.
enum FailureNote {
    private static let printed = Atomic<Bool>(false)

    static func note(worker: Int, seq: Int, _ error: any Error) {
        if Outcome(error).isCrashFailure || Outcome(error).isUnknown { return }
        if printed.exchange(true, ordering: .relaxed) { return }
        printError("\(toolName): worker \(worker): row \(seq) failed: \(error)")
    }
}

extension Outcome {
    /// What an error thrown for a row means for the row.
    init(_ error: any Error) {
        switch error {
        case let error as BatchError:
            switch error {
            case .outcomeUnknown: self = .outcomeUnknown
            case .workerCrashed: self = .workerCrashed
            case .workerFailed: self = .workerFailed
            case .canceled: self = .canceled
            case .remote: self = .remote
            case .busy: self = .other
            }
        case is SQLiteError: self = .sqlite
        default: self = .other
        }
    }
}

enum WorkerCommand {
    static func run(_ p: ParsedCommand) throws -> Int32 {
        try WorkerStart.tieToSpawn()
        let options = try WorkerOptions(p)
        let report = try ReportFile(path: options.reportPath)
        let rows = RowSequence(count: options.work.rows)
        switch options.work.mode {
        case .plain: try PlainMode.run(options, rows: rows, report: report)
        case .batched: try BatchedMode.run(options, rows: rows, report: report)
        }
        return 0
    }
}

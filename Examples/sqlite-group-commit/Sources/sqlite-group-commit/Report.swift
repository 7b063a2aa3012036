// A worker's report: one fixed-width text line per event, each written with one write(2) to a
// file opened O_APPEND as soon as the worker knows it, so that the report of a worker killed
// with SIGKILL holds everything it was told up to its death (and lines of concurrent threads or
// tasks never interleave). Fixed width: spawn counts a worker's lines by the file's size.
//
//     S 17 0 0 0 0 submitted           row 17 handed to the database or to the batcher
//     A 17 8123 5e3a00000004 6 0 ok     acknowledged after 8123 µs, in batch 5e3a00000004 of 6 rows
//     F 17 8123 0 0 0 worker_crashed    failed: nothing of it may be in the database
//     U 17 8123 0 0 0 outcome_unknown   the committer died: it may be in the database or not
//
// Fields: kind, seq, latency µs (submit → outcome), batch id (hex), batch size, busy errors this
// process saw since its previous outcome line, outcome.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// What became of a row, as its worker was told.
enum Outcome: String, CaseIterable, Sendable {
    case submitted
    case ok
    /// The committer died during the commit (`BatchError.outcomeUnknown`).
    case outcomeUnknown = "outcome_unknown"
    /// A worker of the batch was killed inside it (`BatchError.workerCrashed`).
    case workerCrashed = "worker_crashed"
    case workerFailed = "worker_failed"
    case canceled
    /// The commit failed in another process (its error arrives as text).
    case remote
    /// A SQLite error other than SQLITE_BUSY (which is retried).
    case sqlite
    case other

    /// The report line's first field.
    var kind: Character {
        switch self {
        case .submitted: "S"
        case .ok: "A"
        case .outcomeUnknown: "U"
        default: "F"
        }
    }

    /// Whether the row's fate is unknown to its worker (it may be in the database or not).
    var isUnknown: Bool { self == .outcomeUnknown }
    /// Whether the row must not be in the database.
    var isFailure: Bool { kind == "F" }
    /// A failure that a crash explains (in a run without kills it is a problem).
    var isCrashFailure: Bool { self == .workerCrashed || self == .workerFailed }
}

/// One line of a report.
struct ReportLine: Equatable {
    static let width = 96

    var outcome: Outcome
    var seq: Int
    var latencyMicroseconds: Int = 0
    var receipt: BatchReceipt?
    var busyErrors: Int = 0

    /// The line, padded to `width` bytes with its newline.
    var bytes: [UInt8] {
        let batch = String(receipt?.batch ?? 0, radix: 16)
        var text =
            "\(outcome.kind) \(seq) \(latencyMicroseconds) \(batch) \(receipt?.size ?? 0) \(busyErrors) \(outcome.rawValue)"
        precondition(text.utf8.count < Self.width, "report line longer than \(Self.width - 1) bytes: \(text)")
        text += String(repeating: " ", count: Self.width - 1 - text.utf8.count) + "\n"
        return Array(text.utf8)
    }

    /// The whole lines of a report; an unreadable line (none is expected) is skipped.
    static func parse(_ bytes: [UInt8]) -> [ReportLine] {
        stride(from: 0, to: bytes.count - bytes.count % width, by: width).compactMap { start in
            parseLine(bytes[start..<(start + width - 1)])
        }
    }

    private static func parseLine(_ bytes: ArraySlice<UInt8>) -> ReportLine? {
        let fields = bytes.split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
        guard fields.count == 7, let seq = Int(fields[1]), let latency = Int(fields[2]),
            let batch = UInt64(fields[3], radix: 16), let size = UInt32(fields[4]), let busy = Int(fields[5]),
            let outcome = Outcome(rawValue: fields[6]), String(outcome.kind) == fields[0]
        else { return nil }
        let receipt = outcome == .ok ? BatchReceipt(batch: batch, size: size) : nil
        return ReportLine(
            outcome: outcome, seq: seq, latencyMicroseconds: latency, receipt: receipt, busyErrors: busy)
    }
}

/// A worker's report file. Shared by the worker's threads or tasks: each line is one write(2).
final class ReportFile: Sendable {
    let path: String
    private let fd: Int32

    init(path: String) throws(RuntimeFailure) {
        self.path = path
        fd = try Sys.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND)
    }

    deinit { close(fd) }

    /// Row `seq` is about to be handed over: from now on it may end up in the database.
    func submitted(_ seq: Int) throws(RuntimeFailure) {
        try Sys.writeAll(fd, ReportLine(outcome: .submitted, seq: seq).bytes, what: path)
    }

    /// Row `seq`'s outcome, `latency` seconds after it was submitted.
    func outcome(_ seq: Int, _ outcome: Outcome, latency: Double, receipt: BatchReceipt?) throws(RuntimeFailure) {
        let line = ReportLine(
            outcome: outcome, seq: seq, latencyMicroseconds: Int((latency * 1e6).rounded()), receipt: receipt,
            busyErrors: BusyErrors.drain())
        try Sys.writeAll(fd, line.bytes, what: path)
    }
}

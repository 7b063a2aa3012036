// The subcommands, the limits of every number the command line takes, and the one table of
// every option (`optionTable`), from which the parser, `--help` and the `list-options`
// subcommand are all derived, so that they cannot drift apart. The man page is checked against
// the same table (names and ranges) by Tests/DemoTests.

import BatchIPC

let toolName = "batch-shm-demo"

/// The subcommands.
enum Subcommand: String, CaseIterable {
    case spawn, list, stat, unlink, clean, help, worker
    /// Internal: prints the option table, one option a line, for the tests.
    case listOptions = "list-options"

    /// Not for users: started by spawn, or used by the tests.
    var isInternal: Bool { self == .worker || self == .listOptions }

    var synopsis: String {
        switch self {
        case .spawn: "spawn [N] [options]"
        case .list: "list [--json]"
        case .stat: "stat NAME [--json]"
        case .unlink: "unlink NAME [--force]"
        case .clean: "clean"
        case .help: "help [SUBCOMMAND]"
        case .worker: "worker --segment NAME --id I --log PATH --report PATH [options]   (internal)"
        case .listOptions: "list-options   (internal)"
        }
    }

    var summary: String {
        switch self {
        case .spawn: "Run N worker processes that append records through one shared batch, then check the log."
        case .list: "List this user's segments in /dev/shm: live, stale (nobody left to use it) or corrupt."
        case .stat: "Print the header, coaches, participants and counters of a segment."
        case .unlink: "Remove a segment; refuses one that is still live unless --force."
        case .clean: "Remove what killed spawns left: their stale segments and temporary directories."
        case .help: "Print the help of the tool, or of one subcommand."
        case .worker: "One worker process; started by spawn, not meant to be run by hand."
        case .listOptions: "Print every option the command line accepts, for the tests."
        }
    }
}

/// The ranges of the numbers on the command line. The segment's capacities come from BatchIPC's
/// own limits (`SharedBatchConfiguration`), so that the demo refuses at once, as a usage error,
/// what the library would refuse at run time.
enum Limits {
    /// `spawn N`: each worker takes a participant slot and a process entry of the segment, and
    /// spawn asks for two spare ones (SharedSink.configuration).
    static let workers: ClosedRange<Int> = {
        let range = 1...64
        let capacity = min(
            SharedBatchConfiguration.participantLimit.upperBound, SharedBatchConfiguration.processLimit.upperBound)
        precondition(range.upperBound + 2 <= capacity, "more workers than a segment has room for")
        return range
    }()
    /// `spawn N` without N.
    static let defaultWorkers = 4
    static let coaches = SharedBatchConfiguration.coachLimit
    /// The liveness period in milliseconds.
    static let livenessMS =
        milliseconds(
            SharedBatchConfiguration.livenessLimit.lowerBound)...milliseconds(
            SharedBatchConfiguration.livenessLimit.upperBound)
    /// BatchIPC bounds the yield budget by a quarter of the liveness period; this is the bound of
    /// the longest period, in microseconds (a shorter period lowers it again, silently).
    static let yieldBudgetUS = 0...(livenessMS.upperBound * 1000 / 4)
    static let ops = 1...10_000_000
    static let recordSize = LogFormat.minRecordSize...LogFormat.maxRecordSize
    static let commitCostUS = 0...10_000_000
    /// `--assume-commit-cost`, in nanoseconds: up to 10 s, the longest commit the waiting policy
    /// considers.
    static let assumedCommitCostNS = 0...10_000_000_000
    static let timeoutSeconds = 1...86_400

    static func milliseconds(_ d: Duration) -> Int {
        Int(d.components.seconds) * 1000 + Int(d.components.attoseconds / 1_000_000_000_000_000)
    }
}

/// One option of the command line.
struct OptionSpec {
    /// The long name without dashes, e.g. `ops`.
    let long: String
    /// The one-letter short name, if any.
    let short: Character?
    /// The name of the value, e.g. `COUNT`; nil for a flag.
    let value: String?
    /// The subcommands that accept it.
    let commands: [Subcommand]
    /// For an integer option: the values it accepts, and its value when absent (nil: none).
    let range: ClosedRange<Int>?
    let fallback: Int?
    /// The default in words, when it is not a number (e.g. "half of --ops").
    let fallbackText: String?
    /// What it does, for `--help` (which adds the range and the default).
    let help: String

    init(
        long: String, short: Character? = nil, value: String? = nil, commands: [Subcommand],
        range: ClosedRange<Int>? = nil, fallback: Int? = nil, fallbackText: String? = nil, help: String
    ) {
        self.long = long
        self.short = short
        self.value = value
        self.commands = commands
        self.range = range
        self.fallback = fallback
        self.fallbackText = fallbackText
        self.help = help
    }

    /// The range as the command line writes it, e.g. "1...64".
    var rangeText: String? { range.map { "\($0.lowerBound)...\($0.upperBound)" } }

    /// The help with the range and the default, e.g. "operations per worker (1...100, default 5)".
    var fullHelp: String {
        let notes = [rangeText, (fallbackText ?? fallback.map(String.init)).map { "default \($0)" }].compactMap { $0 }
        return notes.isEmpty ? help : help + " (" + notes.joined(separator: ", ") + ")"
    }
}

/// Every option the command line accepts (besides `-h/--help` and `--version`, accepted
/// everywhere). The single source of truth for the parser, `--help` and `list-options`.
let optionTable: [OptionSpec] = [
    OptionSpec(
        long: "ops", short: "n", value: "COUNT", commands: [.spawn, .worker], range: Limits.ops, fallback: 250,
        help: "operations (records) per worker"),
    OptionSpec(
        long: "coaches", short: "c", value: "COUNT", commands: [.spawn, .worker], range: Limits.coaches, fallback: 1,
        help: "batches in flight at once"),
    OptionSpec(
        long: "record-size", short: "s", value: "BYTES", commands: [.spawn, .worker], range: Limits.recordSize,
        fallback: 64, help: "size of one record"),
    OptionSpec(
        long: "commit", value: "MODE", commands: [.spawn, .worker],
        help: "fdatasync: write + fdatasync each batch to the log (default); simulate: write, then spin --commit-cost"),
    OptionSpec(
        long: "commit-cost", value: "USEC", commands: [.spawn, .worker], range: Limits.commitCostUS, fallback: 100,
        help: "simulated cost of one commit in microseconds, with --commit simulate"),
    OptionSpec(
        long: "dir", short: "d", value: "DIR", commands: [.spawn],
        help: "write the log and the worker reports into DIR, which must exist and be writable, and keep them"
            + " (default: a temporary directory, removed at the end)"),
    OptionSpec(
        long: "keep", commands: [.spawn],
        help: "keep the temporary directory with the log and print its path"),
    OptionSpec(
        long: "crash", value: "PHASE", commands: [.spawn, .worker],
        help: "kill workers at PHASE: queued, entered, waiting, committing or random"),
    OptionSpec(
        long: "crash-count", value: "K", commands: [.spawn], range: Limits.workers, fallback: 1,
        help: "how many workers --crash kills, workers 0..K-1"),
    OptionSpec(
        long: "crash-after", value: "OPS", commands: [.spawn, .worker], range: 0...Limits.ops.upperBound,
        fallbackText: "half of --ops", help: "operations a doomed worker completes before it arms its crash"),
    OptionSpec(
        long: "seed", value: "N", commands: [.spawn], range: 0...Int(UInt32.max), fallbackText: "from the clock",
        help: "seed for the phases chosen by --crash random and the segment name"),
    OptionSpec(
        long: "liveness", value: "MS", commands: [.spawn, .worker], range: Limits.livenessMS, fallback: 20,
        help: "liveness period in milliseconds: how often a waiter looks for dead participants"),
    OptionSpec(
        long: "yield-budget", value: "USEC", commands: [.spawn, .worker], range: Limits.yieldBudgetUS,
        fallbackText: "BatchIPC's, 1000",
        help: "how long a waiter may yield the CPU before it sleeps, 0 to sleep at once; at most a quarter of"
            + " the liveness period"),
    OptionSpec(
        long: "assume-commit-cost", value: "NSEC", commands: [.spawn, .worker], range: Limits.assumedCommitCostNS,
        fallbackText: "measured",
        help: "the waiting policy takes one commit to cost NSEC nanoseconds instead of measuring it"
            + " (BatchWaiting.assumedCommitCost): a cost of at most 2000 never waits for announced workers"),
    OptionSpec(
        long: "baseline", value: "MODE", commands: [.spawn, .worker],
        help: "flock: no shared batch; each worker appends + fdatasyncs under flock(2) (for comparison)"),
    OptionSpec(
        long: "timeout", short: "t", value: "SECONDS", commands: [.spawn], range: Limits.timeoutSeconds, fallback: 120,
        help: "kill the workers and fail if the run takes longer"),
    OptionSpec(
        long: "name", value: "NAME", commands: [.spawn], fallbackText: "/batch-shm-demo-PID-RANDOM",
        help: "segment name"),
    OptionSpec(
        long: "json", commands: [.spawn, .list, .stat],
        help: "print one JSON object instead of the human summary (not with --quiet)"),
    OptionSpec(
        long: "quiet", short: "q", commands: [.spawn],
        help: "no progress line and no summary; only the exit status (and errors); not with --json"),
    OptionSpec(
        long: "force", short: "f", commands: [.unlink],
        help: "remove the segment even if it is live, without opening it"),
    OptionSpec(
        long: "segment", value: "NAME", commands: [.worker],
        help: "internal: the segment to join"),
    OptionSpec(
        long: "id", value: "I", commands: [.worker], range: 0...(Limits.workers.upperBound - 1),
        help: "internal: this worker's number, 0..N-1"),
    OptionSpec(
        long: "log", value: "PATH", commands: [.worker],
        help: "internal: the log file"),
    OptionSpec(
        long: "report", value: "PATH", commands: [.worker],
        help: "internal: where the worker writes the outcome of each operation"),
]

// The subcommands and the one table of every option (`optionTable`), from which the parser,
// `--help` and the `list-options` subcommand are all derived, so that they cannot drift apart.
// The man page is checked against the same table by Tests/DemoTests.

let toolName = "batch-shm-demo"

/// The subcommands.
enum Subcommand: String, CaseIterable {
    case spawn, worker, stat, unlink
    /// Internal: prints the option table, one option a line, for the tests.
    case listOptions = "list-options"

    var synopsis: String {
        switch self {
        case .spawn: "spawn [N] [options]"
        case .worker: "worker --segment NAME --id I --log PATH --report PATH [options]   (internal)"
        case .stat: "stat NAME [--json]"
        case .unlink: "unlink NAME [--force]"
        case .listOptions: "list-options   (internal)"
        }
    }

    var summary: String {
        switch self {
        case .spawn: "Run N worker processes that append records through one shared batch, then check the log."
        case .worker: "One worker process; started by spawn, not meant to be run by hand."
        case .stat: "Print the header, coaches, participants and counters of a segment."
        case .unlink: "Remove a segment; refuses one with live participants unless --force."
        case .listOptions: "Print every option the command line accepts, for the tests."
        }
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
    /// One line for `--help`.
    let help: String
}

/// Every option the command line accepts (besides `-h/--help` and `--version`, accepted
/// everywhere). The single source of truth for the parser, `--help` and `list-options`.
let optionTable: [OptionSpec] = [
    OptionSpec(
        long: "ops", short: "n", value: "COUNT", commands: [.spawn, .worker],
        help: "operations (records) per worker (default 250)"),
    OptionSpec(
        long: "coaches", short: "c", value: "COUNT", commands: [.spawn, .worker],
        help: "batches in flight at once (default 1)"),
    OptionSpec(
        long: "record-size", short: "s", value: "BYTES", commands: [.spawn, .worker],
        help: "size of one record, \(LogFormat.minRecordSize)...\(LogFormat.maxRecordSize) (default 64)"),
    OptionSpec(
        long: "commit", short: nil, value: "MODE", commands: [.spawn, .worker],
        help: "fdatasync: write + fdatasync each batch to the log (default); simulate: write, then spin --commit-cost"),
    OptionSpec(
        long: "commit-cost", short: nil, value: "USEC", commands: [.spawn, .worker],
        help: "simulated cost of one commit in microseconds, with --commit simulate (default 100)"),
    OptionSpec(
        long: "dir", short: "d", value: "DIR", commands: [.spawn],
        help: "write the log and the worker reports into DIR and keep them (default: a temporary directory)"),
    OptionSpec(
        long: "keep", short: nil, value: nil, commands: [.spawn],
        help: "keep the temporary directory with the log and print its path"),
    OptionSpec(
        long: "crash", short: nil, value: "PHASE", commands: [.spawn, .worker],
        help: "kill workers at PHASE: queued, entered, waiting, committing or random"),
    OptionSpec(
        long: "crash-count", short: nil, value: "K", commands: [.spawn],
        help: "how many workers --crash kills, workers 0..K-1 (default 1)"),
    OptionSpec(
        long: "crash-after", short: nil, value: "OPS", commands: [.spawn, .worker],
        help: "operations a doomed worker completes before it arms its crash (default: half of --ops)"),
    OptionSpec(
        long: "seed", short: nil, value: "N", commands: [.spawn],
        help: "seed for the phases chosen by --crash random (default: from the clock)"),
    OptionSpec(
        long: "liveness", short: nil, value: "MS", commands: [.spawn, .worker],
        help: "liveness period: how often a waiter looks for dead participants (default 20)"),
    OptionSpec(
        long: "yield-budget", short: nil, value: "USEC", commands: [.spawn, .worker],
        help: "how long a waiter may yield the CPU before it sleeps, 0 to sleep at once (default 1000, at most a quarter of the liveness period)"),
    OptionSpec(
        long: "baseline", short: nil, value: "MODE", commands: [.spawn, .worker],
        help: "flock: no shared batch; each worker appends + fdatasyncs under flock(2) (for comparison)"),
    OptionSpec(
        long: "timeout", short: "t", value: "SECONDS", commands: [.spawn],
        help: "kill the workers and fail if the run takes longer (default 120)"),
    OptionSpec(
        long: "name", short: nil, value: "NAME", commands: [.spawn],
        help: "segment name (default: /batch-shm-demo-PID-RANDOM)"),
    OptionSpec(
        long: "json", short: nil, value: nil, commands: [.spawn, .stat],
        help: "print one JSON object instead of the human summary"),
    OptionSpec(
        long: "quiet", short: "q", value: nil, commands: [.spawn],
        help: "no progress line and no summary; only the exit status (and errors)"),
    OptionSpec(
        long: "force", short: "f", value: nil, commands: [.unlink],
        help: "remove the segment even if it has live participants"),
    OptionSpec(
        long: "segment", short: nil, value: "NAME", commands: [.worker],
        help: "internal: the segment to join"),
    OptionSpec(
        long: "id", short: nil, value: "I", commands: [.worker],
        help: "internal: this worker's number, 0..N-1"),
    OptionSpec(
        long: "log", short: nil, value: "PATH", commands: [.worker],
        help: "internal: the log file"),
    OptionSpec(
        long: "report", short: nil, value: "PATH", commands: [.worker],
        help: "internal: where the worker writes the outcome of each operation"),
]

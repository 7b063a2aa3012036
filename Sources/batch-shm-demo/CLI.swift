// The command line: one table of every option (`optionTable`) from which the parser, `--help`
// and the `list-options` subcommand are all derived, so that they cannot drift apart. The man
// page is checked against the same table by Tests/DemoTests.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

let toolName = "batch-shm-demo"
let toolVersion = "0.1.0"

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
        help:
            "how long a waiter may yield the CPU before it sleeps, 0 to sleep at once (default 1000, at most a quarter of the liveness period)"
    ),
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

/// A usage error: exit 64 with the message, a usage line and a hint.
struct UsageError: Error {
    let message: String
    let command: Subcommand?
}

/// The parsed command line.
struct ParsedCommand {
    var command: Subcommand?
    var positionals: [String] = []
    /// Long name → value ("" for a flag).
    var values: [String: String] = [:]
    var help = false
    var version = false

    func flag(_ name: String) -> Bool { values[name] != nil }
    func string(_ name: String) -> String? { values[name] }

    /// The integer value of `--name`, `fallback` when absent; a usage error when out of range.
    func int(_ name: String, _ fallback: Int, min: Int = 0, max: Int = Int.max) throws(UsageError) -> Int {
        guard let text = values[name] else { return fallback }
        guard let v = Int(text), v >= min, v <= max else {
            throw UsageError(
                message: "--\(name) expects an integer in \(min)...\(max), got '\(text)'", command: command)
        }
        return v
    }

    /// The value of `--name`, which must be one of `choices`.
    func choice(_ name: String, _ choices: [String], _ fallback: String?) throws(UsageError) -> String? {
        guard let text = values[name] else { return fallback }
        guard choices.contains(text) else {
            throw UsageError(
                message: "--\(name) expects one of \(choices.joined(separator: ", ")), got '\(text)'", command: command)
        }
        return text
    }
}

enum CommandLineParser {
    static func parse(_ args: [String]) throws(UsageError) -> ParsedCommand {
        var parsed = ParsedCommand()
        var i = 0
        var onlyPositionals = false
        while i < args.count {
            let arg = args[i]
            i += 1
            if onlyPositionals || arg == "-" || !arg.hasPrefix("-") {
                if parsed.command == nil && !onlyPositionals {
                    guard let sub = Subcommand(rawValue: arg) else {
                        throw UsageError(message: "unknown subcommand '\(arg)'", command: nil)
                    }
                    parsed.command = sub
                } else {
                    parsed.positionals.append(arg)
                }
                continue
            }
            if arg == "--" {
                onlyPositionals = true
                continue
            }
            if arg == "-h" || arg == "--help" {
                parsed.help = true
                continue
            }
            if arg == "--version" {
                parsed.version = true
                continue
            }
            // --name, --name=value, -x, -x value, -xVALUE
            var spec: OptionSpec?
            var inline: String?
            if arg.hasPrefix("--") {
                let body = arg.dropFirst(2)
                let name: Substring
                if let eq = body.firstIndex(of: "=") {
                    name = body[..<eq]
                    inline = String(body[body.index(after: eq)...])
                } else {
                    name = body
                }
                spec = optionTable.first { $0.long == name }
                if spec == nil { throw UsageError(message: "unknown option '--\(name)'", command: parsed.command) }
            } else {
                let letter = arg.dropFirst().first!
                spec = optionTable.first { $0.short == letter }
                if spec == nil { throw UsageError(message: "unknown option '-\(letter)'", command: parsed.command) }
                let rest = arg.dropFirst(2)
                if !rest.isEmpty {
                    if spec!.value == nil {
                        throw UsageError(message: "option '-\(letter)' takes no value", command: parsed.command)
                    }
                    inline = String(rest)
                }
            }
            let option = spec!
            guard let command = parsed.command else {
                throw UsageError(message: "option '\(arg)' before the subcommand", command: nil)
            }
            guard option.commands.contains(command) else {
                throw UsageError(
                    message: "option '--\(option.long)' does not apply to '\(command.rawValue)'", command: command)
            }
            if option.value == nil {
                if inline != nil {
                    throw UsageError(message: "option '--\(option.long)' takes no value", command: command)
                }
                parsed.values[option.long] = ""
            } else if let inline {
                parsed.values[option.long] = inline
            } else {
                guard i < args.count else {
                    throw UsageError(
                        message: "option '--\(option.long)' needs a value (\(option.value!))", command: command)
                }
                parsed.values[option.long] = args[i]
                i += 1
            }
        }
        return parsed
    }
}

// MARK: - Help

enum Help {
    static func usageLine(_ command: Subcommand?) -> String {
        if let command { return "Usage: \(toolName) \(command.synopsis)" }
        return "Usage: \(toolName) <spawn|stat|unlink|worker> [options]"
    }

    static func optionLine(_ o: OptionSpec) -> String {
        var left = "  "
        if let s = o.short { left += "-\(s), " } else { left += "    " }
        left += "--\(o.long)"
        if let v = o.value { left += " \(v)" }
        let pad = max(1, 30 - left.count)
        return left + String(repeating: " ", count: pad) + o.help
    }

    /// The full help, or the help of one subcommand.
    static func text(_ command: Subcommand?) -> String {
        var lines: [String] = []
        if let command {
            lines.append("OVERVIEW: \(command.summary)")
            lines.append("")
            lines.append(usageLine(command))
            lines.append("")
            lines.append("OPTIONS:")
            for o in optionTable where o.commands.contains(command) { lines.append(optionLine(o)) }
        } else {
            lines.append("OVERVIEW: group commit across processes through a shared-memory batch (swift-batch).")
            lines.append("")
            lines.append("N worker processes append records to a batch in a POSIX shared-memory segment; the last")
            lines.append("worker in writes the whole batch to a log with one write and one fdatasync. spawn then")
            lines.append("checks that every record a worker was told is committed is in the log exactly once.")
            lines.append("")
            lines.append(usageLine(nil))
            lines.append("")
            lines.append("SUBCOMMANDS:")
            for s in Subcommand.allCases {
                lines.append("  " + s.synopsis)
                lines.append("      " + s.summary)
            }
            lines.append("")
            lines.append("OPTIONS:")
            for o in optionTable {
                let which = o.commands.map(\.rawValue).joined(separator: ", ")
                lines.append(optionLine(o) + " [\(which)]")
            }
            lines.append("  -h, --help                  show this help (also after a subcommand)")
            lines.append("      --version               show the version")
        }
        lines.append("")
        lines.append("Exit status: 0 ok; 1 runtime failure or a failed log check; 64 usage error; 130 interrupted.")
        lines.append("See batch-shm-demo(1).")
        return lines.joined(separator: "\n")
    }
}

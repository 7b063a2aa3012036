// The command line: subcommands, the option table (every number with its range and default),
// and the parser. A usage error ends the run with status 64 (main.swift).

let toolName = "sqlite-group-commit"

enum Subcommand: String, CaseIterable {
    case spawn
    /// Started by spawn, one per worker process; not for people.
    case worker
    case help
}

/// How rows reach the database.
enum Mode: String, CaseIterable, Sendable {
    /// Each row its own `BEGIN IMMEDIATE … COMMIT`, with a busy timeout: what users write today.
    case plain
    /// Each row through `AsyncSharedBatcher`; the batch's committer inserts it in one transaction.
    case batched
}

/// One option: its name, its value's name (nil for a flag), range and default for numbers.
struct OptionSpec {
    let name: String
    let value: String?
    let range: ClosedRange<Int>?
    let fallback: Int?
    let commands: Set<Subcommand>
    let help: String
}

let optionTable: [OptionSpec] = [
    OptionSpec(
        name: "rows", value: "R", range: 1...1_000_000, fallback: 200, commands: [.spawn, .worker],
        help: "rows each worker inserts"),
    OptionSpec(
        name: "mode", value: "plain|batched", range: nil, fallback: nil, commands: [.spawn, .worker],
        help: "a transaction per row, or per batch (default: batched)"),
    OptionSpec(
        name: "tasks", value: "T", range: 1...64, fallback: 1, commands: [.spawn, .worker],
        help: "rows in flight per worker: threads or async tasks"),
    OptionSpec(
        name: "payload", value: "BYTES", range: 0...4096, fallback: 100, commands: [.spawn, .worker],
        help: "payload bytes per row"),
    OptionSpec(
        name: "busy-timeout", value: "MS", range: 0...600_000, fallback: 5000, commands: [.spawn, .worker],
        help: "SQLite's busy timeout per connection"),
    OptionSpec(
        name: "crash", value: "K", range: 0...64, fallback: 0, commands: [.spawn],
        help: "SIGKILL K random workers at random moments while they insert"),
    OptionSpec(
        name: "seed", value: "S", range: 0...Int.max, fallback: nil, commands: [.spawn],
        help: "seed of the crash plan (default: random)"),
    OptionSpec(
        name: "timeout", value: "SECONDS", range: 1...86400, fallback: 300, commands: [.spawn],
        help: "kill the workers and fail after this long"),
    OptionSpec(
        name: "db", value: "PATH", range: nil, fallback: nil, commands: [.spawn, .worker],
        help: "create the database there and keep it (default: a temporary one)"),
    OptionSpec(name: "json", value: nil, range: nil, fallback: nil, commands: [.spawn], help: "print one JSON object"),
    OptionSpec(name: "id", value: "I", range: 0...63, fallback: nil, commands: [.worker], help: "worker number"),
    OptionSpec(name: "report", value: "PATH", range: nil, fallback: nil, commands: [.worker], help: "report file"),
    OptionSpec(name: "segment", value: "NAME", range: nil, fallback: nil, commands: [.worker], help: "segment"),
]

/// The range of spawn's N.
let workerRange = 1...64

/// A usage error: exit 64 with `Error: message`, the usage line and a hint.
struct UsageError: Error {
    let message: String
    let command: Subcommand?
}

/// The parsed command line.
struct ParsedCommand {
    var command: Subcommand?
    var positionals: [String] = []
    var values: [String: String] = [:]
    var help = false
    var version = false

    func flag(_ name: String) -> Bool { values[name] != nil }
    func string(_ name: String) -> String? { values[name] }

    /// `--name`'s integer, nil when absent; a usage error when outside its range.
    func optionalInt(_ name: String) throws(UsageError) -> Int? {
        guard let text = values[name] else { return nil }
        guard let spec = optionTable.first(where: { $0.name == name }), let range = spec.range else {
            preconditionFailure("--\(name) is not an integer option of optionTable")
        }
        guard let value = Int(text), range.contains(value) else {
            throw UsageError(
                message: "--\(name) expects an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'",
                command: command)
        }
        return value
    }

    /// `--name`'s integer, or its default.
    func int(_ name: String) throws(UsageError) -> Int {
        if let value = try optionalInt(name) { return value }
        guard let fallback = optionTable.first(where: { $0.name == name })?.fallback else {
            preconditionFailure("--\(name) has no default in optionTable")
        }
        return fallback
    }

    func mode() throws(UsageError) -> Mode {
        guard let text = values["mode"] else { return .batched }
        guard let mode = Mode(rawValue: text) else {
            throw UsageError(message: "--mode expects plain or batched, got '\(text)'", command: command)
        }
        return mode
    }
}

enum CommandLineParser {
    static func parse(_ args: [String]) throws(UsageError) -> ParsedCommand {
        var parsed = ParsedCommand()
        var rest = args[...]
        while let arg = rest.popFirst() {
            switch arg {
            case "-h", "--help":
                parsed.help = true
            case "--version":
                parsed.version = true
            case _ where !arg.hasPrefix("-") || arg == "-":
                if parsed.command == nil {
                    guard let command = Subcommand(rawValue: arg) else {
                        throw UsageError(message: "unknown subcommand '\(arg)'", command: nil)
                    }
                    parsed.command = command
                } else {
                    parsed.positionals.append(arg)
                }
            default:
                try parseOption(arg, &rest, into: &parsed)
            }
        }
        return parsed
    }

    /// `--name`, `--name value` or `--name=value`.
    private static func parseOption(
        _ arg: String, _ rest: inout ArraySlice<String>, into parsed: inout ParsedCommand
    ) throws(UsageError) {
        let body = arg.drop { $0 == "-" }
        let name = String(body.prefix { $0 != "=" })
        let inline = body.contains("=") ? String(body.drop { $0 != "=" }.dropFirst()) : nil
        guard arg.hasPrefix("--"), let spec = optionTable.first(where: { $0.name == name }) else {
            throw UsageError(message: "unknown option '\(arg)'", command: parsed.command)
        }
        guard let command = parsed.command else {
            throw UsageError(message: "option '\(arg)' before the subcommand", command: nil)
        }
        guard spec.commands.contains(command) else {
            throw UsageError(message: "option '--\(name)' does not apply to '\(command.rawValue)'", command: command)
        }
        if spec.value == nil {
            if inline != nil { throw UsageError(message: "option '--\(name)' takes no value", command: command) }
            parsed.values[name] = ""
        } else if let value = inline ?? rest.popFirst() {
            parsed.values[name] = value
        } else {
            throw UsageError(message: "option '--\(name)' needs a value (\(spec.value!))", command: command)
        }
    }
}

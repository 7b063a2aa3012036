// `--help`: what the tool does, its usage and every option with its range and default.

enum Help {
    static func usageLine(_ command: Subcommand?) -> String {
        switch command {
        case .worker: "Usage: \(toolName) worker --id I --db PATH --report PATH [options] (started by spawn)"
        case .help: "Usage: \(toolName) help"
        case .spawn, nil:
            "Usage: \(toolName) spawn N [--rows R] [--mode plain|batched] [--tasks T] [--crash K] [--json]"
        }
    }

    static var text: String {
        var lines = [
            "\(toolName): N processes insert rows into one SQLite database (WAL, synchronous=FULL),",
            "each row a transaction of its own (plain) or group-committed through swift-batch's",
            "AsyncSharedBatcher (batched); then every row is checked against what its worker was told.",
            "",
            usageLine(.spawn),
            "",
            "N: worker processes, \(workerRange.lowerBound)...\(workerRange.upperBound).",
            "",
            "Options:",
        ]
        for spec in optionTable where spec.commands.contains(.spawn) {
            var detail = spec.help
            if let range = spec.range, range.upperBound < Int.max {
                detail +=
                    " (\(range.lowerBound)...\(range.upperBound)" + (spec.fallback.map { ", default \($0)" } ?? "")
                    + ")"
            }
            lines.append(optionLine("--\(spec.name)" + (spec.value.map { " \($0)" } ?? ""), detail))
        }
        lines += [
            optionLine("-h, --help", "this help"),
            optionLine("--version", "the version of swift-batch it is built with"),
            "",
            "Exit status: 0 the check passed, 1 it failed (or the run could not be made), 64 usage error.",
            "",
            "Examples:",
            "  \(toolName) spawn 8 --mode plain",
            "  \(toolName) spawn 8 --mode batched --json",
            "  \(toolName) spawn 8 --crash 2",
        ]
        return lines.joined(separator: "\n")
    }

    /// "  NAME" padded to a column, then what it does.
    private static func optionLine(_ name: String, _ detail: String) -> String {
        "  " + name + String(repeating: " ", count: max(1, 22 - name.count)) + detail
    }
}

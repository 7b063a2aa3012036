// `--help` and `help [SUBCOMMAND]`: the overview, the subcommands and every option with its
// range and default, from the option table.

enum Help {
    static func usageLine(_ command: Subcommand?) -> String {
        if let command { return "Usage: \(toolName) \(command.synopsis)" }
        let public_ = Subcommand.allCases.filter { !$0.isInternal }.map(\.rawValue)
        return "Usage: \(toolName) <\(public_.joined(separator: "|"))> [options]"
    }

    /// One line of a two-column list: the left column padded to 30 characters.
    static func row(_ left: String, _ right: String) -> String {
        left + String(repeating: " ", count: max(1, 30 - left.count)) + right
    }

    static func optionLine(_ o: OptionSpec) -> String {
        var left = "  "
        if let s = o.short { left += "-\(s), " } else { left += "    " }
        left += "--\(o.long)"
        if let v = o.value { left += " \(v)" }
        return row(left, o.fullHelp)
    }

    /// spawn's one argument.
    static let workersLine = row(
        "  N",
        "the number of worker processes (\(Limits.workers.lowerBound)...\(Limits.workers.upperBound), "
            + "default \(Limits.defaultWorkers))")

    static let helpLine = row("  -h, --help", "show this help (also after a subcommand)")

    /// The full help, or the help of one subcommand.
    static func text(_ command: Subcommand?) -> String {
        var lines: [String] = []
        if let command {
            lines.append("OVERVIEW: \(command.summary)")
            lines.append("")
            lines.append(usageLine(command))
            if command == .spawn {
                lines.append("")
                lines.append("ARGUMENTS:")
                lines.append(workersLine)
            }
            lines.append("")
            lines.append("OPTIONS:")
            for o in optionTable where o.commands.contains(command) { lines.append(optionLine(o)) }
            lines.append(helpLine)
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
            lines.append("ARGUMENTS:")
            lines.append(workersLine + " [spawn]")
            lines.append("")
            lines.append("OPTIONS:")
            for o in optionTable {
                let which = o.commands.map(\.rawValue).joined(separator: ", ")
                lines.append(optionLine(o) + " [\(which)]")
            }
            lines.append(helpLine)
            lines.append(row("      --version", "show the version"))
        }
        lines.append("")
        lines.append(
            "Exit status: 0 ok; 1 runtime failure or a failed log check; 64 usage error;"
                + " 130 interrupted (SIGINT, SIGTERM, SIGHUP).")
        lines.append("See batch-shm-demo(1).")
        return lines.joined(separator: "\n")
    }
}

// sqlite-group-commit: N processes insert rows into one SQLite database, a transaction per row
// (plain) or a transaction per batch through BatchIPC (batched), and the result is checked.
// See `sqlite-group-commit --help` and ../README.md.

import BatchIPC

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Runs the command line; returns the exit status: 0 ok, 1 failed check or runtime failure, 64 usage.
func runMain(_ args: [String]) -> Int32 {
    var command: Subcommand?
    do {
        let parsed = try CommandLineParser.parse(args)
        command = parsed.command
        if parsed.help {
            printOut(Help.text)
            return 0
        }
        if parsed.version {
            printOut("\(toolName) (swift-batch \(BatchLibrary.version))")
            return 0
        }
        switch parsed.command {
        case .spawn: return try SpawnCommand.run(try SpawnOptions(parsed))
        case .worker: return try WorkerCommand.run(parsed)
        case .help:
            printOut(Help.text)
            return 0
        case nil: throw UsageError(message: "missing subcommand", command: nil)
        }
    } catch let error as UsageError {
        printError("Error: \(error.message)")
        printError(Help.usageLine(error.command ?? command))
        printError("See '\(toolName) --help' for more information.")
        return 64
    } catch {
        printError("Error: \(error)")
        return 1
    }
}

exit(runMain(Array(CommandLine.arguments.dropFirst())))

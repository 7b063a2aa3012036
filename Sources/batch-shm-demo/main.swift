// batch-shm-demo: group commit across processes through a shared-memory batch.
// See `batch-shm-demo --help`, man/batch-shm-demo.1 and docs/DESIGN.md §7.

import Batch

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Runs the command line and returns the exit status: 0 ok, 1 runtime failure, 64 usage.
func runMain(_ args: [String]) -> Int32 {
    var command: Subcommand?
    do {
        let parsed = try CommandLineParser.parse(args)
        command = parsed.command
        if parsed.help {
            printOut(Help.text(parsed.command))
            return 0
        }
        if parsed.version {
            printOut("\(toolName) \(BatchLibrary.version)")
            return 0
        }
        guard let sub = parsed.command else {
            throw UsageError(message: "missing subcommand", command: nil)
        }
        switch sub {
        case .spawn: return try SpawnCommand.run(parsed)
        case .worker: return try WorkerCommand.run(parsed)
        case .list: return try ListCommand.run(parsed)
        case .stat: return try InspectCommand.stat(parsed)
        case .unlink: return try InspectCommand.unlink(parsed)
        case .clean: return try CleanCommand.run(parsed)
        case .help:
            guard parsed.positionals.count <= 1 else {
                throw UsageError(message: "help takes at most one SUBCOMMAND", command: .help)
            }
            guard let name = parsed.positionals.first else {
                printOut(Help.text(nil))
                return 0
            }
            guard let about = Subcommand(rawValue: name) else {
                throw UsageError(message: "unknown subcommand '\(name)'", command: .help)
            }
            printOut(Help.text(about))
            return 0
        case .listOptions:
            if !parsed.positionals.isEmpty {
                throw UsageError(message: "list-options takes no argument", command: .listOptions)
            }
            for o in optionTable {
                let fields = ["--\(o.long)", o.short.map { "-\($0)" }, o.rangeText]
                printOut(fields.compactMap { $0 }.joined(separator: " "))
            }
            return 0
        }
    } catch let e as UsageError {
        printError("Error: \(e.message)")
        printError(Help.usageLine(e.command ?? command))
        printError("See '\(toolName) --help' for more information.")
        return 64
    } catch {
        printError("Error: \(error)")
        return 1
    }
}

exit(runMain(Array(CommandLine.arguments.dropFirst())))

// `spawn`'s options: the parsed command line checked against the limits and against each other.

struct SpawnOptions {
    var workers = Limits.defaultWorkers
    var ops: Int
    var coaches: Int
    var recordSize: Int
    var mode: CommitMode
    var cost: Int
    var dir: String?
    var keep: Bool
    var crash: String?
    var crashCount: Int
    var crashAfter: Int?
    var seed: UInt64?
    var liveness: Int
    /// `--yield-budget` in µs; nil: the library's default.
    var yieldBudget: Int?
    /// `--assume-commit-cost` in ns; nil: measured.
    var assumedCommitCost: Int?
    var baseline: String?
    var timeout: Int
    var name: String?
    var json: Bool
    var quiet: Bool

    init(_ p: ParsedCommand) throws(UsageError) {
        if p.positionals.count > 1 {
            throw UsageError(message: "spawn takes one argument, N (got \(p.positionals.count))", command: .spawn)
        }
        if let n = p.positionals.first {
            guard let v = Int(n), Limits.workers.contains(v) else {
                throw UsageError(
                    message: "N must be an integer in \(Limits.workers.lowerBound)...\(Limits.workers.upperBound)"
                        + ", got '\(n)' (the number of worker processes)",
                    command: .spawn)
            }
            workers = v
        }
        ops = try p.int("ops")
        coaches = try p.int("coaches")
        recordSize = try p.int("record-size")
        mode = CommitMode(rawValue: try p.choice("commit", ["fdatasync", "simulate"], "fdatasync")!)!
        cost = try p.int("commit-cost")
        dir = p.string("dir")
        keep = p.flag("keep")
        crash = try p.choice("crash", CrashPhase.allCases.map(\.rawValue) + ["random"], nil)
        crashCount = try p.int("crash-count")
        crashAfter = try p.optionalInt("crash-after")
        seed = try p.optionalInt("seed").map(UInt64.init)
        liveness = try p.int("liveness")
        yieldBudget = try p.optionalInt("yield-budget")
        assumedCommitCost = try p.optionalInt("assume-commit-cost")
        baseline = try p.choice("baseline", ["flock"], nil)
        timeout = try p.int("timeout")
        name = p.string("name")
        json = p.flag("json")
        quiet = p.flag("quiet")
        if json && quiet {
            throw UsageError(
                message:
                    "--json and --quiet contradict each other: --json prints the summary as JSON, --quiet prints none",
                command: .spawn)
        }
        if crash != nil && crashCount > workers {
            throw UsageError(
                message: "--crash-count \(crashCount) is more than the \(workers) workers", command: .spawn)
        }
        if p.string("crash-count") != nil && crash == nil {
            throw UsageError(message: "--crash-count needs --crash PHASE", command: .spawn)
        }
        if baseline != nil && crash != nil {
            throw UsageError(message: "--crash applies to the shared batch, not to --baseline", command: .spawn)
        }
        if baseline != nil
            && (p.string("coaches") != nil || p.string("liveness") != nil || p.string("name") != nil
                || p.string("yield-budget") != nil || p.string("assume-commit-cost") != nil)
        {
            throw UsageError(
                message:
                    "--coaches, --liveness, --yield-budget, --assume-commit-cost and --name apply to the shared batch,"
                    + " not to --baseline",
                command: .spawn)
        }
        if let name, !name.hasPrefix("/") || name.dropFirst().contains("/") || name.count < 2 || name.count > 250 {
            throw UsageError(
                message: "--name must be one '/' followed by 1 to 249 characters without '/', got '\(name)'",
                command: .spawn)
        }
    }
}

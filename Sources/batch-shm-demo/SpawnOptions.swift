// `spawn`'s options: the parsed command line checked against the limits and against each other.

struct SpawnOptions {
    var workers = 4
    var ops = 250
    var coaches = 1
    var recordSize = 64
    var mode = CommitMode.fdatasync
    var cost = 100
    var dir: String?
    var keep = false
    var crash: String?
    var crashCount = 1
    var crashAfter: Int?
    var seed: UInt64?
    var liveness = 20
    /// `--yield-budget` in µs; nil: the library's default.
    var yieldBudget: Int?
    var baseline: String?
    var timeout = 120
    var name: String?
    var json = false
    var quiet = false

    init(_ p: ParsedCommand) throws(UsageError) {
        if p.positionals.count > 1 {
            throw UsageError(message: "spawn takes one argument, N (got \(p.positionals.count))", command: .spawn)
        }
        if let n = p.positionals.first {
            guard let v = Int(n), v >= 1, v <= 64 else {
                throw UsageError(message: "N must be an integer in 1...64, got '\(n)'", command: .spawn)
            }
            workers = v
        }
        ops = try p.int("ops", ops, min: 1, max: 10_000_000)
        coaches = try p.int("coaches", coaches, min: 1, max: 64)
        recordSize = try p.int("record-size", recordSize, min: LogFormat.minRecordSize, max: LogFormat.maxRecordSize)
        mode = CommitMode(rawValue: try p.choice("commit", ["fdatasync", "simulate"], "fdatasync")!)!
        cost = try p.int("commit-cost", cost, max: 10_000_000)
        dir = p.string("dir")
        keep = p.flag("keep")
        crash = try p.choice("crash", CrashPhase.allCases.map(\.rawValue) + ["random"], nil)
        crashCount = try p.int("crash-count", crashCount, min: 1, max: 64)
        if p.string("crash-after") != nil { crashAfter = try p.int("crash-after", 0, max: 10_000_000) }
        if p.string("seed") != nil { seed = UInt64(try p.int("seed", 0)) }
        liveness = try p.int("liveness", liveness, min: 1, max: 60_000)
        if p.string("yield-budget") != nil { yieldBudget = try p.int("yield-budget", 0, max: 15_000_000) }
        baseline = try p.choice("baseline", ["flock"], nil)
        timeout = try p.int("timeout", timeout, min: 1, max: 86_400)
        name = p.string("name")
        json = p.flag("json")
        quiet = p.flag("quiet")
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
                || p.string("yield-budget") != nil)
        {
            throw UsageError(
                message: "--coaches, --liveness, --yield-budget and --name apply to the shared batch, not to --baseline",
                command: .spawn)
        }
        if let name, !name.hasPrefix("/") || name.dropFirst().contains("/") || name.count < 2 || name.count > 250 {
            throw UsageError(
                message: "--name must be one '/' followed by 1 to 249 characters without '/', got '\(name)'",
                command: .spawn)
        }
    }
}

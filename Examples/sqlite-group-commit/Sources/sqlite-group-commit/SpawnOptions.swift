// `spawn`'s options, read from the command line and checked against each other.

struct SpawnOptions {
    let workers: Int
    let work: Workload
    let crash: Int
    let seed: UInt64?
    let timeout: Int
    /// The database to create and keep; nil: a temporary one.
    let database: String?
    let json: Bool

    init(_ p: ParsedCommand) throws(UsageError) {
        guard p.positionals.count == 1, let text = p.positionals.first else {
            throw UsageError(
                message: p.positionals.isEmpty ? "spawn needs N (worker processes)" : "spawn takes one N",
                command: .spawn)
        }
        guard let workers = Int(text), workerRange.contains(workers) else {
            throw UsageError(
                message: "N expects an integer in \(workerRange.lowerBound)...\(workerRange.upperBound), got '\(text)'",
                command: .spawn)
        }
        self.workers = workers
        work = try Workload(p)
        crash = try p.int("crash")
        seed = try p.optionalInt("seed").map { UInt64($0) }
        timeout = try p.int("timeout")
        database = p.string("db")
        json = p.flag("json")
        if crash > workers {
            throw UsageError(message: "--crash \(crash) is more than the \(workers) workers", command: .spawn)
        }
        if work.mode == .batched && workers * work.tasks > BatchSegment.inFlightLimit {
            throw UsageError(
                message:
                    "N × --tasks is \(workers * work.tasks); a segment takes at most \(BatchSegment.inFlightLimit)",
                command: .spawn)
        }
        if database?.isEmpty == true { throw UsageError(message: "--db needs a path", command: .spawn) }
    }
}

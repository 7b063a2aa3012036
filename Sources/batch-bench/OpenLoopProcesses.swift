// The open loop across processes (BENCHMARKS.md, "Open loop"): N worker processes (this binary re-executed as
// `openloop-worker`, Spawn.swift), each serving its own Poisson stream, through one
// `SharedCoordinator` on a `SharedSegment`, or each committing alone under `flock` on one file
// (what a user writes without the library). Same commit function both sides. A worker writes
// what it measured to a file of doubles: planned arrivals, back-to-back ops, then latencies.
import BatchIPC
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Which side a worker process is on.
enum ProcessSide: String {
    /// Through one `SharedCoordinator` on a segment.
    case shared
    /// Each op alone under `flock(LOCK_EX)` on one file.
    case flock
}

extension CommitCost {
    /// How a worker process is told the cost: "none", "spin:5", "sleep:50".
    var argument: String {
        switch self {
        case .none: "none"
        case .spin(let us): "spin:\(us)"
        case .sleep(let us): "sleep:\(us)"
        }
    }

    init?(argument: String) {
        let parts = argument.split(separator: ":")
        switch (parts.first, parts.count > 1 ? Int(parts[1]) : nil) {
        case ("none", _): self = .none
        case ("spin", let us?): self = .spin(microseconds: us)
        case ("sleep", let us?): self = .sleep(microseconds: us)
        default: return nil
        }
    }
}

/// What one run of worker processes measured.
struct ProcessRun {
    var outcomes: [ArrivalOutcome] = []
    /// Ops done back to back (a closed-loop run), all workers together.
    var backToBackOps = 0
    /// Ops per commit on the shared side (from the segment's counters); 1 for flock.
    var meanBatch = 1.0
}

/// Runs `workers` worker processes on `side` for `seconds`: an open loop at `rate` per second
/// in all (seeds `seed`, `seed + 1`, …), or back to back when `rate` is 0.
func processRun(
    _ side: ProcessSide, workers: Int, commit: CommitCost, rate: Double, seconds: Double, seed: UInt64
) -> ProcessRun {
    let tmp = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    var template = Array("\(tmp)/batch-bench-openloop.XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else {
        fatalError("batch-bench openloop: mkdtemp in \(tmp) failed: errno \(errno)")
    }
    let dir = String(cString: made)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let segmentName = "/batch-bench-openloop-\(getpid())-\(seed)"
    var segment: SharedSegment?
    switch side {
    case .shared:
        do {
            segment = try SharedSegment.create(
                name: segmentName, configuration: SharedBatchConfiguration(participants: workers + 1, stateSize: 8))
        } catch {
            fatalError("batch-bench openloop: \(error)")
        }
    case .flock:
        let fd = open("\(dir)/lock", O_CREAT | O_RDWR, 0o600)
        precondition(fd >= 0, "open(\(dir)/lock) failed: errno \(errno)")
        close(fd)
    }
    defer {
        segment?.close()
        if segment != nil { try? SharedSegment.unlink(name: segmentName) }
    }
    let target = side == .shared ? segmentName : "\(dir)/lock"
    let group = WorkerGroup(
        (0..<workers).map { i in
            [
                "openloop-worker", side.rawValue, target, commit.argument, "\(rate / Double(workers))",
                "\(seconds)", "\(seed &+ UInt64(i))", "\(dir)/worker-\(i)",
            ]
        })
    guard let start = group.start(lead: 0.005) else {
        _ = group.wait(until: now())
        fatalError("batch-bench openloop: a worker process did not start (see its stderr above)")
    }
    let clean = group.wait(until: start + 3 * seconds + 5)
    precondition(clean, "batch-bench openloop: a worker process failed or was killed at the deadline")
    var run = ProcessRun()
    for i in 0..<workers {
        guard let data = FileManager.default.contents(atPath: "\(dir)/worker-\(i)"), data.count >= 16 else {
            fatalError("batch-bench openloop: worker \(i) wrote no results")
        }
        let values = data.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
        run.outcomes.append(ArrivalOutcome(planned: Int(values[0]), latencies: Array(values[2...])))
        run.backToBackOps += Int(values[1])
    }
    if let counters = segment?.counters {
        run.meanBatch = Double(counters.workersServed) / Double(max(1, counters.batches))
    }
    return run
}

/// `batch-bench openloop-worker SIDE TARGET COMMIT RATE SECONDS SEED OUT`: one worker process of
/// `processRun` (not for direct use). RATE 0: back to back for SECONDS.
func runOpenLoopWorker(_ arguments: [String]) -> Never {
    guard arguments.count == 7, let side = ProcessSide(rawValue: arguments[0]),
        let commit = CommitCost(argument: arguments[2]), let rate = Double(arguments[3]),
        let seconds = Double(arguments[4]), let seed = UInt64(arguments[5])
    else {
        printError("Error: openloop-worker: bad arguments \(arguments)")
        exit(64)
    }
    let target = arguments[1]
    let out = arguments[6]
    useOneNanosecondTimerSlack()
    let op: () -> Void
    var segment: SharedSegment?
    do {
        switch side {
        case .shared:
            let opened = try SharedSegment.open(name: target)
            segment = opened
            let coordinator = try SharedCoordinator<Int>(segment: opened) { contents in
                commit.pay()
                return contents.load(as: Int.self)
            }
            try coordinator.reserveSlot()
            op = {
                _ = try? coordinator.batch { section in
                    try coordinator.withState(Int.self, in: section) { sum in
                        if section.isFirst { sum = 0 }
                        sum &+= 1
                    }
                    return try section.commit()
                }
            }
        case .flock:
            let fd = open(target, O_RDWR)
            guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            let sum = BenchSum()
            op = {
                precondition(flock(fd, LOCK_EX) == 0, "flock(LOCK_EX) failed: errno \(errno)")
                sum.value = 0
                sum.value &+= 1
                _ = sum.commit(commit)
                precondition(flock(fd, LOCK_UN) == 0, "flock(LOCK_UN) failed: errno \(errno)")
            }
        }
    } catch {
        printError("Error: openloop-worker: \(error)")
        exit(1)
    }
    let start = workerAwaitStart()
    var values: [Double]
    if rate > 0 {
        let outcome = runArrivals(
            rate: rate, seed: seed, start: start, seconds: seconds, deadline: start + 3 * seconds + 0.5, op)
        values = [Double(outcome.planned), 0] + outcome.latencies
    } else {
        values = [0, Double(runBackToBack(start: start, seconds: seconds, op))]
    }
    segment?.close()
    let data = values.withUnsafeBytes { Data($0) }
    guard FileManager.default.createFile(atPath: out, contents: data) else {
        printError("Error: openloop-worker: cannot write \(out)")
        exit(1)
    }
    exit(0)
}

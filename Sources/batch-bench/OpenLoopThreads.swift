// The open loop on threads: `threads` worker threads, each serving its own Poisson
// stream (Arrivals.swift) through one `Coordinator` (`batch { }`) or alone under one pthread
// mutex, the same commit function both sides.
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What one open-loop run measured.
struct OpenLoopRun {
    var latency: LatencySummary
    /// Served operations per commit (1 for the baselines).
    var meanBatch: Double
}

/// One open-loop run of `contender` on `threads` threads: arrivals at `rate` per second in all
/// (each thread `rate / threads`, seeds `seed`, `seed + 1`, …) for `seconds`.
func openLoopThreadRun(
    _ contender: ThreadContender, threads: Int, commit: CommitCost, rate: Double, seconds: Double, seed: UInt64
) -> OpenLoopRun {
    let sum = BenchSum()
    let op = threadOp(contender, sum: sum, commit: commit)
    let control = LoopControl()
    let outcomes = Mutex<[ArrivalOutcome]>([])
    let handles = startThreads(threads) { i in
        let start = control.awaitStart()
        let outcome = runArrivals(
            rate: rate / Double(threads), seed: seed &+ UInt64(i), start: start, seconds: seconds,
            deadline: start + 3 * seconds + 0.5, op)
        outcomes.withLock { $0.append(outcome) }
    }
    control.release(workers: threads, lead: 0.002)
    joinThreads(handles)
    let all = outcomes.withLock { $0 }
    let served = all.reduce(0) { $0 + $1.latencies.count }
    return OpenLoopRun(latency: LatencySummary(all), meanBatch: Double(served) / Double(max(1, sum.commits)))
}

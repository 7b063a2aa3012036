// `batch-bench threads` (DESIGN.md §8, "batching never loses"): batching through one `Coordinator` against what a user writes
// without the library — the same N threads committing each item alone under a plain pthread
// mutex (lock, add, commit, unlock), with the same commit function. Closed loop, runs of the
// contenders interleaved (safe, mutex, low-level, safe, mutex, …) so that they see the same load.
// The switches/op columns count this process's context switches (getrusage) per operation.
//
//   batch-bench threads
//   BATCH_BENCH_RUNS (default 5) runs per contender and cell; BATCH_BENCH_SECONDS (default 0.3)
//   per run; BATCH_BENCH_N ("1 2 4 8 32") thread counts.
import Batch

#if canImport(Glibc)
    import Glibc
#endif

/// Who runs the ops of a thread-sweep run.
enum ThreadContender {
    /// `coordinator.batch { section in … try section.commit() }`.
    case safe
    /// `queueIn()`, `enter()`, add, `commit()`, `exit()`.
    case lowLevel
    /// The baseline: lock a pthread mutex, add, commit alone, unlock.
    case mutexPerOp
}

/// The op of `contender`: add one item to `sum`, commit it with `commit`'s cost (through one
/// coordinator made here, or alone under one mutex made here), return when it is committed.
func threadOp(_ contender: ThreadContender, sum: BenchSum, commit: CommitCost) -> @Sendable () -> Void {
    let commitFunction: @Sendable () -> Int = { sum.commit(commit) }
    switch contender {
    case .safe:
        let coordinator = Coordinator<Int>(commit: commitFunction)
        return {
            _ = try? coordinator.batch { section in
                if section.isFirst { sum.value = 0 }
                sum.value &+= 1
                return try section.commit()
            }
        }
    case .lowLevel:
        let coordinator = Coordinator<Int>(commit: commitFunction)
        return {
            coordinator.queueIn()
            if coordinator.enter() == 0 { sum.value = 0 }
            sum.value &+= 1
            _ = try? coordinator.commit()
            coordinator.exit()
        }
    case .mutexPerOp:
        let mutex = PthreadMutex()
        return {
            mutex.withLock {
                sum.value = 0
                sum.value &+= 1
                _ = commitFunction()
            }
        }
    }
}

/// One closed-loop run of `contender` on `threads` threads.
func threadSweepRun(_ contender: ThreadContender, threads: Int, commit: CommitCost, seconds: Double) -> LoopResult {
    let sum = BenchSum()
    return closedLoopThreads(
        threads: threads, seconds: seconds, sum: sum, threadOp(contender, sum: sum, commit: commit))
}

/// The bar of DESIGN.md §8 on batched ÷ mutex for a cell of the thread sweep, or nil where it sets
/// none (one thread, no commit: the standing bar, within 8× a bare mutex pair, is `inprocess`'s).
private func threadBar(threads: Int, commit: CommitCost) -> Bar? {
    switch (threads, commit) {
    case (1, .none): nil
    case (1, _): Bar(0.95)
    case (_, .none): Bar(0.25)
    default: Bar(1.0)
    }
}

/// Thread counts from `BATCH_BENCH_N`, or `fallback`.
func environmentCounts(_ fallback: [Int]) -> [Int] {
    guard let raw = getenv("BATCH_BENCH_N") else { return fallback }
    let counts = String(cString: raw).split(separator: " ").compactMap { Int($0) }.filter { $0 >= 1 }
    return counts.isEmpty ? fallback : counts
}

func runThreadSweep() {
    let runs = max(1, environmentInt("BATCH_BENCH_RUNS", 5))
    let seconds = environmentDouble("BATCH_BENCH_SECONDS", 0.3)
    useOneNanosecondTimerSlack()  // inherited by the threads created below
    printSweepHeader(
        "Threads, closed loop: one `Coordinator` against mutex-per-op", runs: runs, seconds: seconds,
        extra: "; contenders run in the order safe, mutex, low-level, run after run")
    print(
        "| threads | commit | batched ops/s | mean batch | mutex-per-op ops/s | batched ÷ mutex "
            + "| low-level ops/s | low-level mean batch | low-level ÷ mutex | batched switches/op "
            + "| mutex switches/op | others |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    // BATCH_BENCH_COMMITS picks commit costs: "none", "spin5", "sleep50" (default: all three).
    let chosen = getenv("BATCH_BENCH_COMMITS").map { String(cString: $0).split(separator: " ").map(String.init) }
    let commits: [CommitCost] = [.none, .spin(microseconds: 5), .sleep(microseconds: 50)].filter { commit in
        guard let chosen else { return true }
        switch commit {
        case .none: return chosen.contains("none")
        case .spin: return chosen.contains("spin5")
        case .sleep: return chosen.contains("sleep50")
        }
    }
    for commit in commits {
        for threads in environmentCounts([1, 2, 4, 8, 32]) {
            let cpu = CPUSnapshot.take()
            let results = interleaved(
                runs: runs,
                [ThreadContender.safe, .mutexPerOp, .lowLevel].map { who in
                    { _ in threadSweepRun(who, threads: threads, commit: commit, seconds: seconds) }
                })
            let (safe, mutex, low) = (results[0], results[1], results[2])
            let bar = threadBar(threads: threads, commit: commit)
            let safeRatio = medianOfRatios(safe.map(\.opsPerSecond), mutex.map(\.opsPerSecond))
            let lowRatio = medianOfRatios(low.map(\.opsPerSecond), mutex.map(\.opsPerSecond))
            var batchBar: Bar?
            if threads == 2, case .sleep = commit { batchBar = Bar(1.8) }
            let safeBatch = judged(median(safe.map(\.meanBatch)), against: batchBar)
            print(
                "| \(threads) | \(commit.label) | \(formatRate(median(safe.map(\.opsPerSecond)))) | \(safeBatch) "
                    + "| \(formatRate(median(mutex.map(\.opsPerSecond)))) | \(judged(safeRatio, against: bar)) "
                    + "| \(formatRate(median(low.map(\.opsPerSecond)))) | \(formatFixed(median(low.map(\.meanBatch)), 2)) "
                    + "| \(judged(lowRatio, against: nil)) | \(formatFixed(median(safe.map(\.switchesPerOp)), 2)) "
                    + "| \(formatFixed(median(mutex.map(\.switchesPerOp)), 2)) | \(cpu.others(until: .take())) |")
            fflush(nil)  // each row as soon as it is measured
        }
    }
    printSweepFooter()
}

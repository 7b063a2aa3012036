// `batch-bench openloop`: latency under a fixed offered load, batched against what a
// user writes by hand, for threads and for processes. Per configuration: first the saturation
// throughput of the closed loop of the same configuration (both sides, interleaved; the
// baseline's median is the 100 % load, so that both sides are offered the same load), then
// Poisson arrivals at 20, 50, 70 and 90 % of it, batched and baseline interleaved run by run with
// the same seeds (the same arrival times). p50 and p99 from the scheduled arrival to the result.
//
//   batch-bench openloop [threads|processes]
//   BATCH_BENCH_RUNS (default 3) runs per side and point; BATCH_BENCH_SECONDS (default 1) of
//   arrivals per run (a run that cannot keep up stops serving at 3× that + 0.5 s);
//   BATCH_BENCH_N (default 8) worker threads or processes.
#if canImport(Glibc)
    import Glibc
#endif

/// The loads offered, as fractions of the baseline's saturation throughput.
private let offeredLoads = [0.2, 0.5, 0.7, 0.9]

/// One configuration of the open loop: how to measure the saturation of each side and how to run
/// one open-loop run of each side.
private struct OpenLoopSetup {
    var title: String
    var baselineName: String
    /// ops/s of one closed-loop run: batched, then baseline.
    var saturation: [(Int) -> Double]
    /// One open-loop run at `rate` ops/s in all with `seed`: batched, then baseline.
    var run: [(_ rate: Double, _ seed: UInt64) -> OpenLoopRun]
}

func runOpenLoopBench(_ arguments: [String]) {
    let which = arguments.first ?? "all"
    guard ["all", "threads", "processes"].contains(which) else {
        printError("Error: openloop takes threads, processes or nothing, got '\(which)'")
        exit(64)
    }
    let runs = max(1, environmentInt("BATCH_BENCH_RUNS", 3))
    let seconds = environmentDouble("BATCH_BENCH_SECONDS", 1)
    let workers = environmentCounts([8])[0]
    let closedSeconds = min(seconds, 0.5)
    useOneNanosecondTimerSlack()
    let commits: [CommitCost] = [.spin(microseconds: 5), .sleep(microseconds: 50)]
    var setups: [OpenLoopSetup] = []
    if which != "processes" {
        for commit in commits {
            setups.append(
                OpenLoopSetup(
                    title: "\(workers) threads, commit \(commit.label)", baselineName: "mutex-per-op",
                    saturation: [ThreadContender.safe, .mutexPerOp].map { who in
                        { _ in
                            threadSweepRun(who, threads: workers, commit: commit, seconds: closedSeconds).opsPerSecond
                        }
                    },
                    run: [ThreadContender.safe, .mutexPerOp].map { who in
                        { rate, seed in
                            openLoopThreadRun(
                                who, threads: workers, commit: commit, rate: rate, seconds: seconds, seed: seed)
                        }
                    }))
        }
    }
    if which != "threads" {
        for commit in commits {
            func open(_ side: ProcessSide, _ rate: Double, _ seed: UInt64) -> OpenLoopRun {
                let run = processRun(side, workers: workers, commit: commit, rate: rate, seconds: seconds, seed: seed)
                return OpenLoopRun(latency: LatencySummary(run.outcomes), meanBatch: run.meanBatch)
            }
            func closed(_ side: ProcessSide) -> Double {
                let run = processRun(side, workers: workers, commit: commit, rate: 0, seconds: closedSeconds, seed: 1)
                return Double(run.backToBackOps) / closedSeconds
            }
            setups.append(
                OpenLoopSetup(
                    title: "\(workers) processes, commit \(commit.label)", baselineName: "flock",
                    saturation: [ProcessSide.shared, .flock].map { side in { _ in closed(side) } },
                    run: [ProcessSide.shared, .flock].map { side in { rate, seed in open(side, rate, seed) } }))
        }
    }
    printSweepHeader(
        "Open loop: latency at a fixed offered load, batched against by hand", runs: runs,
        seconds: seconds,
        extra: "; Poisson arrivals, each of the \(workers) workers serves its own stream at 1/\(workers) of the "
            + "rate; latency from the scheduled arrival to the result; batched and baseline interleaved with the "
            + "same arrival times; 100 % load = the baseline's closed-loop saturation (median of \(runs) runs of "
            + "\(formatFixed(closedSeconds, 2)) s)")
    for setup in setups { runOpenLoopSetup(setup, runs: runs) }
    printSweepFooter()
}

private func runOpenLoopSetup(_ setup: OpenLoopSetup, runs: Int) {
    var cpu = CPUSnapshot.take()
    let saturations = interleaved(runs: runs, setup.saturation)
    let (batchedSaturation, baselineSaturation) = (saturations[0], saturations[1])
    let saturation = median(baselineSaturation)
    print(
        "### \(setup.title)\n\nclosed-loop saturation: \(setup.baselineName) \(formatRate(saturation)) ops/s (100 %), "
            + "batched \(formatRate(median(batchedSaturation))) ops/s (batched ÷ \(setup.baselineName): "
            + "\(judged(medianOfRatios(batchedSaturation, baselineSaturation), against: nil)); "
            + "others \(cpu.others(until: .take())))\n")
    print(
        "| load | offered ops/s | batched p50 µs | batched p99 µs | mean batch | \(setup.baselineName) p50 µs "
            + "| \(setup.baselineName) p99 µs | p50 batched ÷ \(setup.baselineName) | p99 batched ÷ \(setup.baselineName) "
            + "| others |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for load in offeredLoads {
        let rate = load * saturation
        cpu = CPUSnapshot.take()
        // Round r: both sides get the arrival times of seed 1000 (r + 1).
        let results = interleaved(
            runs: runs, setup.run.map { side in { round in side(rate, 1000 * UInt64(round + 1)) } })
        let (batched, baseline) = (results[0], results[1])
        func latency(_ runs: [OpenLoopRun], _ value: (LatencySummary) -> Double) -> String {
            let served = median(runs.map(\.latency.served))
            let text = formatMicros(median(runs.map { value($0.latency) }))
            return served < 0.999 ? "\(text) (served \(Int(served * 100)) %)" : text
        }
        print(
            "| \(Int(load * 100)) % | \(formatRate(rate)) | \(latency(batched, \.p50)) | \(latency(batched, \.p99)) "
                + "| \(formatFixed(median(batched.map(\.meanBatch)), 2)) | \(latency(baseline, \.p50)) "
                + "| \(latency(baseline, \.p99)) "
                + "| \(judged(medianOfRatios(batched.map(\.latency.p50), baseline.map(\.latency.p50)), against: nil)) "
                + "| \(judged(medianOfRatios(batched.map(\.latency.p99), baseline.map(\.latency.p99)), against: nil)) "
                + "| \(cpu.others(until: .take())) |")
        fflush(nil)  // each row as soon as it is measured
    }
    print("")
}

// The BatchIPC measurements of batch-bench: the op cost of `SharedCoordinator` (the batch in a
// POSIX shared-memory segment, one thread, trivial commit) next to the in-process `Coordinator`
// op measured in the same run with the same loop. Bar (DESIGN.md §8): the shared-memory op
// within 2× the in-process op. Uses the timing helpers of InProcess.swift (now, median,
// blackHole).
import Batch
import BatchIPC

#if canImport(Glibc)
    import Glibc
#endif

/// The low-level op on one thread: queueIn → enter → add → commit → exit.
private func sharedLowLevelOps<C: BatchCoordinator<Int>>(_ c: C, _ ops: Int, _ state: UnsafeMutablePointer<Int>) {
    var sum = 0
    for i in 0..<ops {
        c.queueIn()
        if c.enter() == 0 { state.pointee = 0 }
        state.pointee &+= i
        sum &+= (try? c.commit()) ?? 0
        c.exit()
    }
    blackHole(sum)
}

/// The safe op on one thread: `batch { section in … commit() }`.
private func sharedSafeOps<C: BatchCoordinator<Int>>(_ c: C, _ ops: Int, _ state: UnsafeMutablePointer<Int>) {
    var sum = 0
    for i in 0..<ops {
        sum &+=
            (try? c.batch { section in
                if section.isFirst { state.pointee = 0 }
                state.pointee &+= i
                return try section.commit()
            }) ?? 0
    }
    blackHole(sum)
}

/// ns per op of one timed run of `body(ops)`.
private func sharedTimed(ops: Int, _ body: (Int) -> Void) -> Double {
    let start = now()
    body(ops)
    return (now() - start) * 1e9 / Double(ops)
}

/// One side's samples: ns/op per pair, low-level and safe.
private struct SharedSamples {
    var low: [Double] = []
    var safe: [Double] = []
}

func runSharedBench() {
    let name = "/swift-batch-bench-\(getpid())"
    let segment: SharedSegment
    let shared: SharedCoordinator<Int>
    do {
        segment = try SharedSegment.create(name: name, configuration: SharedBatchConfiguration(stateSize: 8))
        try SharedSegment.unlink(name: name)
        shared = try SharedCoordinator<Int>(segment: segment) { _ in 1 }
    } catch {
        fatalError("batch-bench shared: \(error)")
    }
    let local = Coordinator<Int> { 1 }
    let scale = Int(String(cString: getenv("BATCH_BENCH_SCALE") ?? strdup("10")!)) ?? 10
    let ops = 20_000 * scale
    let pairs = 21
    let state = UnsafeMutablePointer<Int>.allocate(capacity: 1)
    state.initialize(to: 0)
    defer { state.deallocate() }
    // BATCH_BENCH_SIDE=local|shared measures one side only (for `perf stat`).
    let side = getenv("BATCH_BENCH_SIDE").map { String(cString: $0) } ?? "both"
    let doLocal = side != "shared"
    let doShared = side != "local"
    // Warm-up, then `pairs` tightly interleaved pairs of short runs (a local run, then the same
    // run on the segment): the machine is shared and noisy in bursts of seconds, so each ratio
    // is taken between two runs a few milliseconds apart, and the median of the ratios is shown.
    if doLocal {
        sharedLowLevelOps(local, ops / 10, state)
        sharedSafeOps(local, ops / 10, state)
    }
    if doShared {
        sharedLowLevelOps(shared, ops / 10, state)
        sharedSafeOps(shared, ops / 10, state)
    }
    var l = SharedSamples()
    var s = SharedSamples()
    for _ in 0..<pairs {
        if doLocal { l.low.append(sharedTimed(ops: ops) { sharedLowLevelOps(local, $0, state) }) }
        if doShared { s.low.append(sharedTimed(ops: ops) { sharedLowLevelOps(shared, $0, state) }) }
        if doLocal { l.safe.append(sharedTimed(ops: ops) { sharedSafeOps(local, $0, state) }) }
        if doShared { s.safe.append(sharedTimed(ops: ops) { sharedSafeOps(shared, $0, state) }) }
    }
    segment.close()
    if !(doLocal && doShared) {
        let samples = doLocal ? l : s
        print(
            "\(side) side only: low-level "
                + String(format: "%.1f ns/op, safe %.1f ns/op", median(samples.low), median(samples.safe))
                + " (medians of \(pairs) runs)")
        return
    }
    func ratios(_ a: [Double], _ b: [Double]) -> [Double] { zip(a, b).map { $1 / $0 } }
    print("## Shared-memory op cost (one thread, trivial commit; \(pairs) interleaved pairs of runs of \(ops) ops)\n")
    print(
        "| op | in-process `Coordinator` ns/op | shared-memory `SharedCoordinator` ns/op | shared ÷ in-process (median of pair ratios) | ratio of the fastest runs |"
    )
    print("|---|---:|---:|---:|---:|")
    for (what, a, b) in [
        ("low-level (queueIn, enter, add, commit, exit)", l.low, s.low),
        ("safe (`batch { … commit() }`)", l.safe, s.safe),
    ] {
        print(
            "| \(what) "
                + String(
                    format: "| %.1f | %.1f | %.2f | %.2f |", median(a), median(b),
                    median(ratios(a, b)), b.min()! / a.min()!))
    }
    print("\nBar (DESIGN.md §8): the shared-memory op within 2× the in-process op.\n")
}

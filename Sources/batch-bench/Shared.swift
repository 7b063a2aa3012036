// The BatchIPC measurements of batch-bench: the op cost of `SharedCoordinator` (the batch in a
// POSIX shared-memory segment, one thread, trivial commit) next to the in-process `Coordinator`
// op measured in the same run with the same loop. Bar (DESIGN.md §4): the shared-memory op
// within 2× the in-process op. Self-contained (private helpers, `shared` prefix) so that it
// does not depend on the other files of batch-bench.
import Batch
import BatchIPC

#if canImport(Glibc)
    import Glibc
#endif

private func sharedNow() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

private func sharedMedian(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

@inline(never)
private func sharedBlackHole(_ value: Int) {
    if value == 0x5eed_f00d { print("") }
}

/// Median ns per op of `runs` runs of `body(ops)`, after a warm-up.
private func sharedNanosPerOp(runs: Int = 7, ops: Int, _ body: (Int) -> Void) -> Double {
    body(ops / 10)
    var samples: [Double] = []
    for _ in 0..<runs {
        let start = sharedNow()
        body(ops)
        samples.append((sharedNow() - start) * 1e9 / Double(ops))
    }
    return sharedMedian(samples)
}

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
    sharedBlackHole(sum)
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
    sharedBlackHole(sum)
}

/// (low-level, safe) ns/op of `c`.
private func sharedMeasure<C: BatchCoordinator<Int>>(_ c: C, ops: Int) -> (Double, Double) {
    let state = UnsafeMutablePointer<Int>.allocate(capacity: 1)
    state.initialize(to: 0)
    defer { state.deallocate() }
    let low = sharedNanosPerOp(ops: ops) { sharedLowLevelOps(c, $0, state) }
    let safe = sharedNanosPerOp(ops: ops) { sharedSafeOps(c, $0, state) }
    return (low, safe)
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
    let opsLocal = 200_000 * scale
    let opsShared = 100_000 * scale
    // Interleaved rounds, so that a noisy neighbour on the shared machine hits both sides alike.
    var l: [(Double, Double)] = []
    var s: [(Double, Double)] = []
    // BATCH_BENCH_SIDE=local|shared measures one side only (for `perf stat`).
    let side = getenv("BATCH_BENCH_SIDE").map { String(cString: $0) } ?? "both"
    for _ in 0..<3 {
        l.append(side == "shared" ? (1, 1) : sharedMeasure(local, ops: opsLocal))
        s.append(side == "local" ? (1, 1) : sharedMeasure(shared, ops: opsShared))
    }
    segment.close()
    let (lLow, lSafe) = (sharedMedian(l.map(\.0)), sharedMedian(l.map(\.1)))
    let (sLow, sSafe) = (sharedMedian(s.map(\.0)), sharedMedian(s.map(\.1)))
    print("## Shared-memory op cost (one thread, trivial commit; median of 3 interleaved rounds × median of 7 runs)\n")
    print("| op | in-process `Coordinator` ns/op | shared-memory `SharedCoordinator` ns/op | shared ÷ in-process |")
    print("|---|---:|---:|---:|")
    print(
        String(
            format: "| low-level (queueIn, enter, add, commit, exit) | %.1f | %.1f | %.2f |", lLow, sLow, sLow / lLow))
    print(String(format: "| safe (`batch { … commit() }`) | %.1f | %.1f | %.2f |", lSafe, sSafe, sSafe / lSafe))
    print("\nBar (DESIGN.md §4): the shared-memory op within 2× the in-process op.\n")
}

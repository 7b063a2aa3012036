// Async op cost and contended throughput, next to the blocking API measured in the same run.
// Results are in docs/BENCHMARKS.md.
//
//   swift run -c release --scratch-path .build-async batch-bench async
//
// Environment: BATCH_BENCH_RUNS (default 5) runs per figure, the median is printed;
// BATCH_BENCH_SECONDS (default 0.3) length of one throughput run; BATCH_BENCH_OPS_ONLY=1 skips
// the throughput table.
import Batch
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

func runAsyncBench() {
    let runs = Int(getenv("BATCH_BENCH_RUNS").map { String(cString: $0) } ?? "") ?? 5
    let seconds = Double(getenv("BATCH_BENCH_SECONDS").map { String(cString: $0) } ?? "") ?? 0.3
    print("## async: \(runs) runs per figure, median; throughput runs of \(seconds) s")
    print("machine: \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) cores")
    print()

    // 1. Op cost, one worker, trivial commit.
    let iterations = 200_000
    print("### Op cost: one worker, queueIn → enter → add → commit → exit, trivial commit")
    print()
    print("| API | ns/op |")
    print("|---|---:|")
    let rows: [(String, () -> Double)] = [
        ("pthread mutex lock+unlock (reference)", { asyncBenchMutexPairNanos(iterations) }),
        (
            "one awaited async call that does not suspend (reference)",
            { asyncBenchBlockOn { await asyncBenchCallNanos(iterations) } }
        ),
        ("blocking `Coordinator`, low-level calls", { asyncBenchBlockingLowLevelNanos(iterations) }),
        (
            "async `AsyncCoordinator`, low-level calls",
            { asyncBenchBlockOn { await asyncBenchLowLevelNanos(iterations) } }
        ),
        ("blocking `Coordinator.batch { }`", { asyncBenchBlockingSafeNanos(iterations) }),
        ("async `AsyncCoordinator.batch { }`", { asyncBenchBlockOn { await asyncBenchSafeNanos(iterations) } }),
        ("async `AsyncBatcher.submit`", { asyncBenchBlockOn { await asyncBenchBatcherNanos(iterations) } }),
    ]
    for (name, measure) in rows {
        let value = median((0..<runs).map { _ in measure() })
        print("| \(name) | \(asyncBenchFormat(value, 1)) |")
    }
    print()
    if getenv("BATCH_BENCH_OPS_ONLY") != nil { return }

    // 2. Contended throughput, closed loop.
    let sleepCost = asyncBenchBlockOn { await asyncBenchTaskSleepMicros() }
    let nanosleepCost = asyncBenchNanosleepMicros()
    print("### Contended throughput: N workers in a closed loop through one coordinator")
    print()
    print("Blocking: N threads, commit = `nanosleep` (measured \(asyncBenchFormat(nanosleepCost, 0)) µs for 100 µs).")
    print(
        "Async: N tasks on the cooperative pool, commit = `Task.sleep` (measured \(asyncBenchFormat(sleepCost, 0)) µs for 100 µs)."
    )
    print()
    print("| N | commit | blocking ops/s | blocking mean batch | async ops/s | async mean batch |")
    print("|---:|---:|---:|---:|---:|---:|")
    for commitMicros in [0, 100] {
        for workers in [1, 8, 256] {
            var blocking: [(Double, Double)] = []
            var async: [(Double, Double)] = []
            for _ in 0..<runs {
                blocking.append(
                    asyncBenchBlockingThroughput(workers: workers, commitMicros: commitMicros, seconds: seconds))
                async.append(
                    asyncBenchBlockOn {
                        await asyncBenchThroughput(workers: workers, commitMicros: commitMicros, seconds: seconds)
                    })
            }
            print(
                "| \(workers) | \(commitMicros) µs | \(asyncBenchFormat(median(blocking.map(\.0)), 0)) | "
                    + "\(asyncBenchFormat(median(blocking.map(\.1)), 2)) | \(asyncBenchFormat(median(async.map(\.0)), 0)) | "
                    + "\(asyncBenchFormat(median(async.map(\.1)), 2)) |")
        }
    }
    print()
}

// MARK: - Helpers

/// Runs `body` in a task and waits for it on the calling (main, non-pool) thread.
private func asyncBenchBlockOn<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let box = Mutex<T?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let value = await body()
        box.withLock { $0 = value }
        done.signal()
    }
    done.wait()
    return box.withLock { $0! }
}

private func asyncBenchNanos() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}

private func asyncBenchFormat(_ value: Double, _ decimals: Int) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    if decimals == 0 { return String(Int(rounded)) }
    return String(rounded)
}

/// The shared state of a bench batch. Touched only inside the critical section and by the commit
/// function of a closed batch.
private final class AsyncBenchSum: @unchecked Sendable {
    var value = 0
}

/// AsyncBenchCounters of a throughput run, shared by its workers.
private final class AsyncBenchCounters: Sendable {
    let commits = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
    let ops = Atomic<Int>(0)
    let started = Atomic<Int>(0)
    let go = Atomic<Bool>(false)
}

@inline(never)
private func asyncBenchMutexPairNanos(_ n: Int) -> Double {
    var mutex = pthread_mutex_t()
    pthread_mutex_init(&mutex, nil)
    defer { pthread_mutex_destroy(&mutex) }
    let start = asyncBenchNanos()
    for _ in 0..<n {
        pthread_mutex_lock(&mutex)
        pthread_mutex_unlock(&mutex)
    }
    return Double(asyncBenchNanos() - start) / Double(n)
}

@inline(never)
private func asyncBenchTrivial(_ x: Int) async -> Int { x &+ 1 }

@inline(never)
private func asyncBenchCallNanos(_ n: Int) async -> Double {
    var x = 0
    let start = asyncBenchNanos()
    for _ in 0..<n { x = await asyncBenchTrivial(x) }
    let ns = Double(asyncBenchNanos() - start) / Double(n)
    precondition(x == n)
    return ns
}

@inline(never)
private func asyncBenchBlockingLowLevelNanos(_ n: Int) -> Double {
    let sum = AsyncBenchSum()
    let coordinator = Coordinator<Int> { sum.value }
    var check = 0
    let start = asyncBenchNanos()
    for _ in 0..<n {
        coordinator.queueIn()
        if coordinator.enter() == 0 { sum.value = 0 }
        sum.value += 1
        check &+= (try? coordinator.commit()) ?? 0
        coordinator.exit()
    }
    let ns = Double(asyncBenchNanos() - start) / Double(n)
    precondition(check == n)
    return ns
}

@inline(never)
private func asyncBenchLowLevelNanos(_ n: Int) async -> Double {
    let sum = AsyncBenchSum()
    let coordinator = AsyncCoordinator<Int> { sum.value }
    var check = 0
    let start = asyncBenchNanos()
    for _ in 0..<n {
        coordinator.queueIn()
        if (try? await coordinator.enter()) == 0 { sum.value = 0 }
        sum.value += 1
        check &+= (try? await coordinator.commit()) ?? 0
        coordinator.exit()
    }
    let ns = Double(asyncBenchNanos() - start) / Double(n)
    precondition(check == n)
    return ns
}

@inline(never)
private func asyncBenchBlockingSafeNanos(_ n: Int) -> Double {
    let sum = AsyncBenchSum()
    let coordinator = Coordinator<Int> { sum.value }
    var check = 0
    let start = asyncBenchNanos()
    for _ in 0..<n {
        check &+=
            (try? coordinator.batch { section in
                if section.isFirst { sum.value = 0 }
                sum.value += 1
                return try section.commit()
            }) ?? 0
    }
    let ns = Double(asyncBenchNanos() - start) / Double(n)
    precondition(check == n)
    return ns
}

@inline(never)
private func asyncBenchSafeNanos(_ n: Int) async -> Double {
    let sum = AsyncBenchSum()
    let coordinator = AsyncCoordinator<Int> { sum.value }
    var check = 0
    let start = asyncBenchNanos()
    for _ in 0..<n {
        check &+=
            (try? await coordinator.batch { section in
                if section.isFirst { sum.value = 0 }
                sum.value += 1
                return try await section.commit()
            }) ?? 0
    }
    let ns = Double(asyncBenchNanos() - start) / Double(n)
    precondition(check == n)
    return ns
}

@inline(never)
private func asyncBenchBatcherNanos(_ n: Int) async -> Double {
    let batcher = AsyncBatcher<Int, Int> { items in items.count }
    var check = 0
    let start = asyncBenchNanos()
    for i in 0..<n {
        check &+= (try? await batcher.submit(i)) ?? 0
    }
    let ns = Double(asyncBenchNanos() - start) / Double(n)
    precondition(check == n)
    return ns
}

/// What `Task.sleep` for 100 µs really costs here, in µs (mean of 200).
private func asyncBenchTaskSleepMicros() async -> Double {
    let start = asyncBenchNanos()
    for _ in 0..<200 { try? await Task.sleep(nanoseconds: 100_000) }
    return Double(asyncBenchNanos() - start) / 200 / 1000
}

/// What `nanosleep` for 100 µs really costs here, in µs (mean of 200).
private func asyncBenchNanosleepMicros() -> Double {
    let start = asyncBenchNanos()
    for _ in 0..<200 { asyncBenchSleep(100) }
    return Double(asyncBenchNanos() - start) / 200 / 1000
}

/// Sleeps `us` µs with `nanosleep`, resumed after signals. Shared with the sweeps (Harness.swift).
func asyncBenchSleep(_ us: Int) {
    var request = timespec(tv_sec: us / 1_000_000, tv_nsec: (us % 1_000_000) * 1000)
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

/// Closed loop, N threads, blocking API: (ops/s, mean batch size).
private func asyncBenchBlockingThroughput(workers: Int, commitMicros: Int, seconds: Double) -> (Double, Double) {
    let sum = AsyncBenchSum()
    let counters = AsyncBenchCounters()
    let coordinator = Coordinator<Int> {
        if commitMicros > 0 { asyncBenchSleep(commitMicros) }
        counters.commits.add(1, ordering: .relaxed)
        return sum.value
    }
    let group = DispatchGroup()
    var threads: [pthread_t] = []
    final class Context: @unchecked Sendable {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
    for _ in 0..<workers {
        group.enter()
        let context = Context {
            counters.started.add(1, ordering: .relaxed)
            while !counters.go.load(ordering: .acquiring) { sched_yield() }
            var mine = 0
            while !counters.stop.load(ordering: .relaxed) {
                _ = try? coordinator.batch { section in
                    if section.isFirst { sum.value = 0 }
                    sum.value += 1
                    return try section.commit()
                }
                mine += 1
            }
            counters.ops.add(mine, ordering: .relaxed)
            group.leave()
        }
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, nil,
            { raw in
                let context = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
                context.body()
                return nil
            }, Unmanaged.passRetained(context).toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
        threads.append(thread)
    }
    while counters.started.load(ordering: .relaxed) < workers { sched_yield() }
    let start = asyncBenchNanos()
    counters.go.store(true, ordering: .releasing)
    asyncBenchSleep(Int(seconds * 1e6))
    counters.stop.store(true, ordering: .relaxed)
    group.wait()
    let elapsed = Double(asyncBenchNanos() - start) / 1e9
    for thread in threads { pthread_join(thread, nil) }
    let n = counters.ops.load(ordering: .relaxed)
    let c = counters.commits.load(ordering: .relaxed)
    return (Double(n) / elapsed, Double(n) / Double(max(c, 1)))
}

/// Closed loop, N tasks on the cooperative pool, async API: (ops/s, mean batch size).
private func asyncBenchThroughput(workers: Int, commitMicros: Int, seconds: Double) async -> (Double, Double) {
    let sum = AsyncBenchSum()
    let counters = AsyncBenchCounters()
    let coordinator = AsyncCoordinator<Int> {
        if commitMicros > 0 { try? await Task.sleep(nanoseconds: UInt64(commitMicros) * 1000) }
        counters.commits.add(1, ordering: .relaxed)
        return sum.value
    }
    let start = asyncBenchNanos()
    let n = await withTaskGroup(of: Int.self) { group in
        for _ in 0..<workers {
            group.addTask {
                var mine = 0
                while !counters.stop.load(ordering: .relaxed) {
                    _ = try? await coordinator.batch { section in
                        if section.isFirst { sum.value = 0 }
                        sum.value += 1
                        return try await section.commit()
                    }
                    mine += 1
                }
                return mine
            }
        }
        group.addTask {
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            counters.stop.store(true, ordering: .relaxed)
            return 0
        }
        var total = 0
        for await mine in group { total += mine }
        return total
    }
    let elapsed = Double(asyncBenchNanos() - start) / 1e9
    let c = counters.commits.load(ordering: .relaxed)
    return (Double(n) / elapsed, Double(n) / Double(max(c, 1)))
}

// The in-process measurements of batch-bench: the op cost of `Coordinator` next to a bare
// pthread mutex lock+unlock pair measured in the same run, and contended throughput.
import Batch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// prctl(2); Glibc's module map does not export <sys/prctl.h>.
@_silgen_name("prctl")
func setTimerSlack(_ option: Int32, _ a: UInt, _ b: UInt, _ c: UInt, _ d: UInt) -> Int32

/// Monotonic time in seconds.
func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// The median of `values`.
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1
        ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// Runs `body` (which performs `ops` operations) `runs` times; returns the median ns per op.
func nanosPerOp(runs: Int = 7, ops: Int, _ body: (Int) -> Void) -> Double {
    body(ops / 10)  // warm up
    var samples: [Double] = []
    for _ in 0..<runs {
        let start = now()
        body(ops)
        samples.append((now() - start) * 1e9 / Double(ops))
    }
    return median(samples)
}

/// Keeps a value alive so that the optimiser cannot drop the loop that computed it.
@inline(never)
func blackHole(_ value: Int) {
    if value == 0x5eed_f00d { print("") }
}

/// A bare private pthread mutex lock+unlock pair around one increment.
func bareMutexPairNanos() -> Double {
    let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    pthread_mutex_init(mutex, nil)
    defer {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }
    var counter = 0
    let ns = nanosPerOp(ops: 20_000_000) { ops in
        for _ in 0..<ops {
            pthread_mutex_lock(mutex)
            counter &+= 1
            pthread_mutex_unlock(mutex)
        }
    }
    blackHole(counter)
    return ns
}

/// One op of the low-level API on one thread: queueIn → enter → add → commit → exit.
func lowLevelOps<C: BatchCoordinator<Int>>(_ coordinator: C, _ ops: Int, state: UnsafeMutablePointer<Int>) {
    var sum = 0
    for i in 0..<ops {
        coordinator.queueIn()
        let index = coordinator.enter()
        if index == 0 { state.pointee = 0 }
        state.pointee &+= i
        sum &+= (try? coordinator.commit()) ?? 0
        coordinator.exit()
    }
    blackHole(sum)
}

/// One op of the safe API on one thread.
func safeOps<C: BatchCoordinator<Int>>(_ coordinator: C, _ ops: Int, state: UnsafeMutablePointer<Int>) {
    var sum = 0
    for i in 0..<ops {
        sum &+=
            (try? coordinator.batch { section in
                if section.isFirst { state.pointee = 0 }
                state.pointee &+= i
                return try section.commit()
            }) ?? 0
    }
    blackHole(sum)
}

/// The in-process op cost (ns), low-level and safe.
func inProcessOpNanos() -> (lowLevel: Double, safe: Double) {
    let state = UnsafeMutablePointer<Int>.allocate(capacity: 1)
    state.initialize(to: 0)
    defer { state.deallocate() }
    nonisolated(unsafe) let shared = state
    let coordinator = Coordinator<Int> { shared.pointee }
    let low = nanosPerOp(ops: 5_000_000) { lowLevelOps(coordinator, $0, state: state) }
    let safe = nanosPerOp(ops: 5_000_000) { safeOps(coordinator, $0, state: state) }
    return (low, safe)
}

/// Closed-loop contended throughput: `threads` workers each batch as fast as they get results,
/// for `seconds`; the commit costs `commitMicros` (slept, as I/O would be).
func contended(threads: Int, commitMicros: Int, seconds: Double) -> (opsPerSecond: Double, meanBatch: Double) {
    let batches = Atomic<Int>(0)
    let ops = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
    let state = Mutex<Int>(0)
    let coordinator = Coordinator<Int> {
        batches.add(1, ordering: .relaxed)
        if commitMicros > 0 {
            var pause = timespec(tv_sec: 0, tv_nsec: commitMicros * 1000)
            nanosleep(&pause, nil)
        }
        return state.withLock { $0 }
    }
    let start = now()
    var handles: [pthread_t] = []
    final class Box: @unchecked Sendable {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }
    for _ in 0..<threads {
        let box = Box {
            var done = 0
            while !stop.load(ordering: .relaxed) {
                _ = try? coordinator.batch { section in
                    state.withLock {
                        if section.isFirst { $0 = 0 }
                        $0 &+= 1
                    }
                    return try section.commit()
                }
                done += 1
            }
            ops.add(done, ordering: .relaxed)
        }
        var handle = pthread_t()
        pthread_create(
            &handle, nil,
            { raw in
                Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().run()
                return nil
            }, Unmanaged.passRetained(box).toOpaque())
        handles.append(handle)
    }
    var pause = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
    nanosleep(&pause, nil)
    stop.store(true, ordering: .relaxed)
    for h in handles { pthread_join(h, nil) }
    let elapsed = now() - start
    let total = ops.load(ordering: .relaxed)
    return (Double(total) / elapsed, Double(total) / Double(max(1, batches.load(ordering: .relaxed))))
}

func runInProcessBench() {
    // Sleep precisely: the default 50 µs timer slack would turn a 100 µs commit into 150 µs.
    useOneNanosecondTimerSlack()
    let bare = bareMutexPairNanos()
    let op = inProcessOpNanos()
    print("## In-process op cost (one thread, trivial commit; median of 7 runs)\n")
    print("| measurement | ns/op | × bare mutex pair |")
    print("|---|---:|---:|")
    print(String(format: "| bare pthread mutex lock+unlock | %.1f | 1.0 |", bare))
    print(
        String(
            format: "| Coordinator low-level (queueIn, enter, add, commit, exit) | %.1f | %.1f |", op.lowLevel,
            op.lowLevel / bare))
    print(String(format: "| Coordinator safe (`batch { … commit() }`) | %.1f | %.1f |", op.safe, op.safe / bare))
    print("\n## In-process contended throughput (closed loop, median of 3 runs of 0.5 s)\n")
    print("| threads | commit µs | ops/s | mean batch size |")
    print("|---:|---:|---:|---:|")
    for commitMicros in [0, 100] {
        for threads in [1, 2, 8, 32] {
            let runs = (0..<3).map { _ in contended(threads: threads, commitMicros: commitMicros, seconds: 0.5) }
            let opsPerSecond = median(runs.map(\.opsPerSecond))
            let meanBatch = median(runs.map(\.meanBatch))
            print(String(format: "| %d | %d | %.0f | %.2f |", threads, commitMicros, opsPerSecond, meanBatch))
        }
    }
    print("")
}

/// `batch-bench allocs low|safe N`: N ops and nothing else, for counting heap allocations with
/// valgrind (scripts/check-allocs.sh compares two values of N).
func runAllocProbe(_ arguments: [String]) {
    let mode = arguments.first ?? "low"
    let ops = arguments.count > 1 ? Int(arguments[1]) ?? 1000 : 1000
    let state = UnsafeMutablePointer<Int>.allocate(capacity: 1)
    state.initialize(to: 0)
    nonisolated(unsafe) let shared = state
    let coordinator = Coordinator<Int> { shared.pointee }
    if mode == "safe" { safeOps(coordinator, ops, state: state) } else { lowLevelOps(coordinator, ops, state: state) }
    state.deallocate()
}

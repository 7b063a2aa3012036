// What the sweeps against hand-written baselines share: the commit functions measured, the shared state both sides
// add to, the plain pthread mutex of the baseline, and the closed-loop runners for threads and
// tasks. The timing helpers (now, median, blackHole) are those of InProcess.swift.
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What one commit costs in a sweep: nothing, a busy spin on the monotonic clock (CPU work), or
/// a sleep (I/O). The same function runs on both sides of every comparison.
enum CommitCost: Sendable {
    case none
    case spin(microseconds: Int)
    case sleep(microseconds: Int)

    /// The label of the tables ("none", "5 µs CPU", "50 µs sleep").
    var label: String {
        switch self {
        case .none: "none"
        case .spin(let us): "\(us) µs CPU"
        case .sleep(let us): "\(us) µs sleep"
        }
    }

    /// Pays the cost once, on the calling thread.
    @inline(__always)
    func pay() {
        switch self {
        case .none: break
        case .spin(let us):
            let end = now() + Double(us) / 1e6
            while now() < end {}
        case .sleep(let us): asyncBenchSleep(us)
        }
    }
}

/// The shared state of a benchmark batch: a sum, and the number of commits. Touched only inside
/// a critical section (the coordinator's, or the baseline's mutex) and by the commit function of
/// a closed batch; commits of one coordinator are one at a time, so `commits` needs no atomics.
/// No runtime exclusivity checks: they would cost more than the baseline's whole op.
final class BenchSum: @unchecked Sendable {
    @exclusivity(unchecked) var value = 0
    @exclusivity(unchecked) var commits = 0

    /// The commit function of every contender: counts the commit, pays its cost, returns the sum.
    @inline(__always)
    func commit(_ cost: CommitCost) -> Int {
        commits &+= 1
        cost.pay()
        return value
    }
}

/// A plain private pthread mutex, what a user writes without the library. Its address never
/// moves: it is allocated, never a Swift stored property passed with `&`.
final class PthreadMutex {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let rc = pthread_mutex_init(mutex, nil)
        precondition(rc == 0, "pthread_mutex_init failed: \(rc)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    @inline(__always)
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        let rc = pthread_mutex_lock(mutex)
        precondition(rc == 0, "pthread_mutex_lock failed: \(rc)")
        defer {
            let rc = pthread_mutex_unlock(mutex)
            precondition(rc == 0, "pthread_mutex_unlock failed: \(rc)")
        }
        return try body()
    }
}

// @unchecked: the mutex serialises every access to itself; its address never moves.
extension PthreadMutex: @unchecked Sendable {}

/// Counts a run's operations, and starts and stops its workers.
final class LoopControl: Sendable {
    let ops = Atomic<Int>(0)
    let started = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
    /// The start time (a `now()` value, as bits); 0 until the workers are released.
    private let startBits = Atomic<UInt64>(0)

    var stopped: Bool { stop.load(ordering: .relaxed) }

    /// In a worker: counts it as started, waits until it is released, returns the start time.
    func awaitStart() -> Double {
        started.add(1, ordering: .relaxed)
        while true {
            let bits = startBits.load(ordering: .acquiring)
            if bits != 0 { return Double(bitPattern: bits) }
            sched_yield()
        }
    }

    /// Waits until `workers` workers are in `awaitStart()`, then releases them all with the start
    /// time `lead` seconds from now; returns it.
    @discardableResult
    func release(workers: Int, lead: Double = 0) -> Double {
        while started.load(ordering: .relaxed) < workers { sched_yield() }
        let start = now() + lead
        startBits.store(start.bitPattern, ordering: .releasing)
        return start
    }
}

/// The outcome of one closed-loop run.
struct LoopResult {
    var opsPerSecond: Double
    /// Operations per commit.
    var meanBatch: Double
    /// Context switches (voluntary and involuntary, all threads of this process) per operation;
    /// NaN where not measured (tasks).
    var switchesPerOp = Double.nan
}

extension LoopControl {
    func result(elapsed: Double, commits: Int, switches: Int? = nil) -> LoopResult {
        let n = ops.load(ordering: .relaxed)
        return LoopResult(
            opsPerSecond: Double(n) / elapsed, meanBatch: Double(n) / Double(max(1, commits)),
            switchesPerOp: switches.map { Double($0) / Double(max(1, n)) } ?? .nan)
    }
}

/// Context switches of this process so far, voluntary and involuntary, over all its threads
/// (those that have exited included).
func processContextSwitches() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_nvcsw + usage.ru_nivcsw
}

/// Starts `count` threads running `body(i)`; join them with `joinThreads`. Timer slack and
/// signal mask are inherited from the calling thread.
func startThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) -> [pthread_t] {
    final class Start {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
    return (0..<count).map { i in
        var thread = pthread_t()
        let start = Start { body(i) }
        let rc = pthread_create(
            &thread, nil,
            { raw in
                Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue().body()
                return nil
            }, Unmanaged.passRetained(start).toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
        return thread
    }
}

func joinThreads(_ threads: [pthread_t]) {
    for thread in threads {
        let rc = pthread_join(thread, nil)
        precondition(rc == 0, "pthread_join failed: \(rc)")
    }
}

/// Closed loop on threads: `threads` new threads each run `op` back to back for `seconds`
/// (started together, after all are up); `sum` counts the commits.
func closedLoopThreads(
    threads: Int, seconds: Double, sum: BenchSum, _ op: @escaping @Sendable () -> Void
) -> LoopResult {
    let control = LoopControl()
    let handles = startThreads(threads) { _ in
        _ = control.awaitStart()
        var mine = 0
        while !control.stopped {
            op()
            mine += 1
        }
        control.ops.add(mine, ordering: .relaxed)
    }
    let start = control.release(workers: threads)
    let switches = processContextSwitches()
    asyncBenchSleep(Int(seconds * 1e6))
    control.stop.store(true, ordering: .relaxed)
    joinThreads(handles)
    return control.result(
        elapsed: now() - start, commits: sum.commits, switches: processContextSwitches() - switches)
}

/// Closed loop on tasks: `tasks` child tasks on the default cooperative pool each run `op` back
/// to back for `seconds`; `sum` counts the commits. The calling thread (not a pool thread) times
/// the run and stops it.
func closedLoopTasks(
    tasks: Int, seconds: Double, sum: BenchSum, _ op: @escaping @Sendable () async -> Void
) -> LoopResult {
    let control = LoopControl()
    let done = DispatchSemaphore(value: 0)
    let start = now()
    Task {
        await withTaskGroup(of: Int.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    var mine = 0
                    while !control.stopped {
                        await op()
                        mine += 1
                    }
                    return mine
                }
            }
            for await mine in group { control.ops.add(mine, ordering: .relaxed) }
        }
        done.signal()
    }
    asyncBenchSleep(Int(seconds * 1e6))
    control.stop.store(true, ordering: .relaxed)
    done.wait()
    return control.result(elapsed: now() - start, commits: sum.commits)
}

/// Runs every contender once per round, in order, for `runs` rounds (A B C A B C …, so that they
/// see the same load); returns each contender's results, in round order. A contender gets the
/// round's index.
func interleaved<R>(runs: Int, _ contenders: [(Int) -> R]) -> [[R]] {
    var results = [[R]](repeating: [], count: contenders.count)
    for round in 0..<runs {
        for (i, contender) in contenders.enumerated() { results[i].append(contender(round)) }
    }
    return results
}

/// Sleeps of this thread, and of the threads it creates next, end on time: the default 50 µs
/// timer slack would turn a 50 µs sleep into 100 µs.
func useOneNanosecondTimerSlack() {
    let prSetTimerSlack: Int32 = 29
    _ = setTimerSlack(prSetTimerSlack, 1, 0, 0, 0)
}

/// An integer from the environment, or `fallback`.
func environmentInt(_ name: String, _ fallback: Int) -> Int {
    getenv(name).flatMap { Int(String(cString: $0)) } ?? fallback
}

/// A number from the environment, or `fallback`.
func environmentDouble(_ name: String, _ fallback: Double) -> Double {
    getenv(name).flatMap { Double(String(cString: $0)) } ?? fallback
}

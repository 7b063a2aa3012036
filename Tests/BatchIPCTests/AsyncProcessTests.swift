// Tasks of several processes join one batch through AsyncSharedCoordinator, on the default
// cooperative pool of each process; blocking and async workers of different processes share
// one segment; and the blocking API, used from tasks, deadlocks the pool (the experiment that
// is the reason for the async one).
import BatchIPC
import BatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("BatchIPC: async workers in several processes", .timeLimit(.minutes(1)))
struct AsyncProcessTests {
    /// Room for every task of the test inside a batch at once (a task holds a participant seat
    /// from enter to exit).
    static let configuration = SharedBatchConfiguration(
        coaches: 1, participants: 1024, stateSize: 16, arenaCapacity: 64 << 10, resultCapacity: 16,
        livenessPeriod: .milliseconds(20))

    @Test(
        "4 processes × 200 tasks × 5 ops on the default pool: every op answered, grand total exact, each record once",
        arguments: ["strict", "adaptive"])
    func hundredsOfTasksInFourProcesses(_ waiting: String) throws {
        let tasks = 200
        let ops = 5
        let start = monotonicSeconds()
        let counters = try runWorkers(
            tag: "at", configuration: Self.configuration,
            (0..<4).map { _ in (["\(ops)", "--tasks", "\(tasks)", "--waiting", waiting], tasks * ops) })
        let elapsed = monotonicSeconds() - start
        #expect(elapsed < 30)
        // Batches formed: fewer commits than ops.
        #expect(counters.batches < 4 * tasks * ops)
        print(
            "async processes (\(waiting)): 4 × \(tasks) tasks × \(ops) in \(elapsed) s, \(counters.batches) batches, mean \(Double(4 * tasks * ops) / Double(counters.batches))"
        )
    }

    @Test("blocking threads and async tasks of different processes share one segment and one batch")
    func blockingAndAsyncTogether() throws {
        let counters = try runWorkers(
            tag: "mix", configuration: Self.configuration,
            [
                (["100", "--threads", "2"], 200), (["10", "--tasks", "40"], 400),
                (["100", "--threads", "2"], 200), (["10", "--tasks", "40"], 400),
            ])
        #expect(counters.batches < 1200)
    }

    /// Tasks that announce themselves, suspend (preparing), then enter through the *blocking*
    /// `SharedCoordinator`: a task waiting in `commit()` parks its pool thread, the announced
    /// tasks never get one back. The helper's watchdog exits with 42 after 5 s: expecting that
    /// code re-checks on every run that the blocking API deadlocks the pool — and the same run
    /// through `AsyncSharedCoordinator` finishes.
    @Test("the blocking shared coordinator deadlocks the cooperative pool; the async one does not")
    func blockingAPIDeadlocksThePool() throws {
        let (name, _) = try makeNamedSegment(Self.configuration, tag: "dl")
        defer { try? SharedSegment.unlink(name: name) }
        let blocking = Child(["worker", name, "4", "--tasks", "64", "--api", "blocking", "--watchdog", "5"])
        let (_, blockingStatus) = blocking.finish()
        #expect(blockingStatus == 42, "the blocking run should still hang at the watchdog; exited \(blockingStatus)")
        let (name2, _) = try makeNamedSegment(Self.configuration, tag: "nodl")
        defer { try? SharedSegment.unlink(name: name2) }
        let async = Child(["worker", name2, "4", "--tasks", "64", "--watchdog", "20"])
        let (lines, asyncStatus) = async.finish()
        #expect(asyncStatus == 0, "\(lines.suffix(3))")
        #expect(lines.last == "summary ok=256 err=0 bad=0")
    }
}

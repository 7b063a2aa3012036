// Several real processes join one batch: every worker checks its results, the grand total is
// exact, and every record is committed exactly once.
import BatchIPC
import BatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("BatchIPC: several processes", .timeLimit(.minutes(1)))
struct MultiProcessTests {
    @Test(
        "N helper processes × K ops: every op answered, grand total exact, each record logged once",
        arguments: ["strict", "adaptive"])
    func grandTotal(_ waiting: String) throws {
        let threads = 2
        let ops = 150
        try runWorkers(
            tag: "mp", configuration: processConfiguration,
            (0..<4).map { _ in (["\(ops)", "--threads", "\(threads)", "--waiting", waiting], threads * ops) })
    }

    @Test("an error thrown by the commit function in one process reaches the others with its description")
    func remoteError() throws {
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: "err")
        defer { try? SharedSegment.unlink(name: name) }
        struct Refused: Error, CustomStringConvertible { var description: String { "refused-by-test-committer" } }
        let coordinator = try SharedCoordinator<TestResult>(segment: segment) { _ in throw Refused() }
        coordinator.queueIn()  // hold the batch open until the helper waits in it
        let child = Child(["worker", name, "1"])
        waitForPhase(segment, pid: child.pid, .waiting)
        // The test process enters last, triggers and commits with its throwing function.
        _ = coordinator.enter()
        coordinator.trigger()
        #expect(throws: Refused.self) { try coordinator.commit() }
        coordinator.exit()
        let (lines, status) = child.finish()
        #expect(status == 0)
        #expect(lines.first == "err 0 refused-by-test-committer", "\(lines)")
    }

    @Test("another process reads the counters and the status while a worker holds the critical section")
    func countersWithoutDisturbing() throws {
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: "stat")
        defer { try? SharedSegment.unlink(name: name) }
        let coordinator = try testCoordinator(segment)
        _ = try testOp(coordinator)
        _ = try testOp(coordinator)
        coordinator.queueIn()
        _ = coordinator.enter()  // holds the segment mutex until exit()
        let child = Child(["stat", name])
        let (lines, status) = child.finish()  // would hang if reading took the lock
        coordinator.exit()
        #expect(status == 0)
        #expect(
            lines == ["counters batches=2 served=2 crashes=0 cancels=0", "coach0 count=1 participants=1 processes=1"])
    }
}

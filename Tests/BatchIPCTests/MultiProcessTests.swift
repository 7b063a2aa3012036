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
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: "mp")
        defer { try? SharedSegment.unlink(name: name) }
        let log = "/tmp/swift-batch-ipc-\(getpid())-\(name.dropFirst()).log"
        defer { unlink(log) }
        let processes = 4
        let threads = 2
        let ops = 150
        let children = (0..<processes).map { _ in
            Child(["worker", name, String(ops), "--threads", String(threads), "--log", log, "--waiting", waiting])
        }
        var okTotal = 0
        for child in children {
            let (lines, status) = child.finish()
            #expect(status == 0, "helper \(child.pid) exited \(status): \(lines.suffix(3))")
            let summary = try #require(lines.last { $0.hasPrefix("summary") })
            #expect(summary == "summary ok=\(ops * threads) err=0 bad=0", "helper \(child.pid): \(summary)")
            okTotal += Int(summary.split(separator: " ")[1].dropFirst(3)) ?? 0
        }
        #expect(okTotal == processes * threads * ops)
        // The grand total kept by the commit functions in the segment's state.
        let coordinator = try testCoordinator(segment)
        let after = try testOp(coordinator)
        #expect(after.total == Int64(processes * threads * ops + 1))
        // Every record exactly once in the log.
        let fd = open(log, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        var seen = Set<[Int64]>()
        var at = 0
        var duplicates = 0
        while at + 8 <= bytes.count {
            let length = bytes.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
            #expect(length == MemoryLayout<TestRecord>.size)
            let record = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at + 8, as: TestRecord.self) }
            if !seen.insert([Int64(record.pid), Int64(record.thread), record.op]).inserted { duplicates += 1 }
            at += 8 + (length + 7) / 8 * 8
        }
        #expect(duplicates == 0)
        #expect(seen.count == processes * threads * ops)
        let counters = segment.counters
        #expect(counters.workersServed == processes * threads * ops + 1)
        #expect(counters.crashesRecovered == 0)
        #expect(counters.batches >= 1 && counters.batches <= processes * threads * ops + 1)
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

// Helper processes working on one segment, and the checks every multi-process run makes.
import BatchIPC
import BatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Runs one helper worker per element of `workers` on a fresh named segment — its arguments
/// after `worker NAME`, and how many ops it answers in all — with one log for every commit
/// function, and checks: each helper answered every op without an error; the grand total the
/// commit functions kept in the segment is exact; every record was logged exactly once; the
/// counters agree. Returns the segment's counters.
@discardableResult
func runWorkers(
    tag: String, configuration: SharedBatchConfiguration, _ workers: [(args: [String], ops: Int)],
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> SharedBatchCounters {
    let (name, segment) = try makeNamedSegment(configuration, tag: tag)
    defer { try? SharedSegment.unlink(name: name) }
    let log = "/tmp/swift-batch-ipc-\(getpid())-\(name.dropFirst()).log"
    defer { unlink(log) }
    let children = workers.map { Child(["worker", name] + $0.args + ["--log", log]) }
    var okTotal = 0
    for (child, worker) in zip(children, workers) {
        let (lines, status) = child.finish()
        #expect(
            status == 0, "helper \(worker.args) exited \(status): \(lines.suffix(3))", sourceLocation: sourceLocation)
        let summary = try #require(lines.last { $0.hasPrefix("summary") }, sourceLocation: sourceLocation)
        #expect(
            summary == "summary ok=\(worker.ops) err=0 bad=0", "helper \(worker.args): \(summary)",
            sourceLocation: sourceLocation)
        okTotal += Int(summary.split(separator: " ")[1].dropFirst(3)) ?? 0
    }
    let expected = workers.map(\.ops).reduce(0, +)
    #expect(okTotal == expected, sourceLocation: sourceLocation)
    // The grand total kept by the commit functions in the segment's state.
    let coordinator = try testCoordinator(segment)
    let after = try testOp(coordinator)
    #expect(after.total == Int64(expected + 1), sourceLocation: sourceLocation)
    // Every record exactly once in the log.
    let records = try readRecords(log)
    #expect(records.duplicates == 0, sourceLocation: sourceLocation)
    #expect(records.distinct == expected, sourceLocation: sourceLocation)
    let counters = segment.counters
    #expect(counters.workersServed == expected + 1, sourceLocation: sourceLocation)
    #expect(counters.crashesRecovered == 0, sourceLocation: sourceLocation)
    #expect(counters.batches >= 1 && counters.batches <= expected + 1, sourceLocation: sourceLocation)
    return counters
}

/// The `TestRecord`s of a log written by the helpers' commit functions: how many distinct ones,
/// and how many seen again.
func readRecords(_ path: String) throws -> (distinct: Int, duplicates: Int) {
    let fd = open(path, O_RDONLY)
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
    return (seen.count, duplicates)
}

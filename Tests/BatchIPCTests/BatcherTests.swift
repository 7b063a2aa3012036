// SharedBatcher and AsyncSharedBatcher: submit one record, get the result of the batch that
// carried it. In one process (the commit function keeps the books in process memory) for the
// limits — arena overflow, maxBatchSize, maxBatchBytes, oversize records — and across real
// processes for exact totals.
import BatchIPC
import BatchTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Which batcher a test submits through: threads through `SharedBatcher`, or tasks through
/// `AsyncSharedBatcher`.
enum BatcherAPI: String, CaseIterable, Sendable {
    case blocking, async
}

/// The records of every committed batch (as the integers they encode), by batch number.
final class RecordBooks: Sendable {
    let batches = Locked<[[Int]]>([])

    /// The commit function: records the batch's records, returns its number.
    func commit(_ contents: borrowing SharedBatchContents) -> Int {
        let items = contents.records.map { $0.loadUnaligned(as: Int.self) }
        return batches.withLock {
            $0.append(items)
            return $0.count - 1
        }
    }

    var all: [[Int]] { batches.withLock { $0 } }
}

/// `count` submitters (threads or tasks, per `api`) submit the integers `0..<count` through a
/// batcher over `segment`; returns, per item, the batch number it got (or the error).
func submitAll(
    _ api: BatcherAPI, _ segment: SharedSegment, _ books: RecordBooks, count: Int, maxBatchSize: Int? = nil,
    maxBatchBytes: Int? = nil, recordBytes: Int = 8
) async throws -> [Result<Int, any Error>] {
    @Sendable func record(_ item: Int) -> [UInt8] {
        withUnsafeBytes(of: item) { Array($0) } + [UInt8](repeating: 0xab, count: max(0, recordBytes - 8))
    }
    let answers = Locked([Result<Int, any Error>?](repeating: nil, count: count))
    switch api {
    case .blocking:
        let batcher = try SharedBatcher<Int>(
            segment: segment, maxBatchSize: maxBatchSize, maxBatchBytes: maxBatchBytes, commit: books.commit)
        runThreads(count) { item in
            let answer = Result { try batcher.submit(record(item)) }
            answers.withLock { $0[item] = answer }
        }
    case .async:
        let batcher = try AsyncSharedBatcher<Int>(
            segment: segment, maxBatchSize: maxBatchSize, maxBatchBytes: maxBatchBytes
        ) { contents in
            await Task.yield()  // a commit function that really suspends
            return books.commit(contents)
        }
        await withTaskGroup(of: Void.self) { group in
            for item in 0..<count {
                group.addTask {
                    let answer: Result<Int, any Error>
                    do {
                        answer = .success(try await batcher.submit(record(item)))
                    } catch {
                        answer = .failure(error)
                    }
                    answers.withLock { $0[item] = answer }
                }
            }
        }
    }
    return answers.withLock { $0.map { $0! } }
}

/// Every item got the batch that contains it, and every item is in exactly one batch.
func expectEachItemInItsBatch(
    _ answers: [Result<Int, any Error>], _ books: RecordBooks, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let batches = books.all
    for (item, answer) in answers.enumerated() {
        let batch = try answer.get()
        #expect(batches[batch].contains(item), "item \(item) got batch \(batch)", sourceLocation: sourceLocation)
    }
    #expect(batches.flatMap { $0 }.sorted() == Array(0..<answers.count), sourceLocation: sourceLocation)
}

@Suite("BatchIPC: batchers", .timeLimit(.minutes(1)))
struct BatcherTests {
    @Test(
        "exact totals in one process: every record in exactly one batch, the one its submitter got",
        arguments: BatcherAPI.allCases)
    func exactTotals(_ api: BatcherAPI) async throws {
        let segment = makeSegment(SharedBatchConfiguration(coaches: 2, participants: 256, arenaCapacity: 16 << 10))
        let books = RecordBooks()
        let answers = try await submitAll(api, segment, books, count: 200)
        try expectEachItemInItsBatch(answers, books)
    }

    @Test(
        "a record that does not fit the rest of a batch's arena goes to the next batch; nobody gets an error",
        arguments: BatcherAPI.allCases)
    func arenaOverflowGoesToTheNextBatch(_ api: BatcherAPI) async throws {
        // 24-byte records take 32 bytes framed: three fit an arena of 100 bytes.
        let segment = makeSegment(SharedBatchConfiguration(coaches: 2, participants: 256, arenaCapacity: 100))
        let books = RecordBooks()
        let answers = try await submitAll(api, segment, books, count: 120, recordBytes: 24)
        try expectEachItemInItsBatch(answers, books)
        #expect(books.all.allSatisfy { $0.count <= 3 })
    }

    @Test("maxBatchSize bounds every batch", arguments: BatcherAPI.allCases)
    func maxBatchSizeIsRespected(_ api: BatcherAPI) async throws {
        let segment = makeSegment(SharedBatchConfiguration(coaches: 2, participants: 256, arenaCapacity: 16 << 10))
        let books = RecordBooks()
        let answers = try await submitAll(api, segment, books, count: 150, maxBatchSize: 4)
        try expectEachItemInItsBatch(answers, books)
        #expect(books.all.allSatisfy { $0.count <= 4 })
    }

    @Test("maxBatchBytes bounds every batch's framed records", arguments: BatcherAPI.allCases)
    func maxBatchBytesIsRespected(_ api: BatcherAPI) async throws {
        let segment = makeSegment(SharedBatchConfiguration(coaches: 2, participants: 256, arenaCapacity: 16 << 10))
        let books = RecordBooks()
        // 8-byte records take 16 bytes framed: at most 5 in 80 bytes.
        let answers = try await submitAll(api, segment, books, count: 150, maxBatchBytes: 80)
        try expectEachItemInItsBatch(answers, books)
        #expect(books.all.allSatisfy { $0.count <= 5 })
    }

    @Test(
        "a record larger than a batch can hold is refused at once; the others are not affected",
        arguments: BatcherAPI.allCases)
    func oversizeRecordIsRefused(_ api: BatcherAPI) async throws {
        let segment = makeSegment(SharedBatchConfiguration(coaches: 2, participants: 64, arenaCapacity: 64))
        let books = RecordBooks()
        let tooLarge = [UInt8](repeating: 1, count: 57)  // 8 + 57 → 72 framed > 64
        switch api {
        case .blocking:
            let batcher = try SharedBatcher<Int>(segment: segment, commit: books.commit)
            #expect(throws: SharedBatchError.recordTooLarge(size: 57, capacity: 64)) { try batcher.submit(tooLarge) }
            let limited = try SharedBatcher<Int>(segment: segment, maxBatchBytes: 16, commit: books.commit)
            #expect(throws: SharedBatchError.recordTooLarge(size: 9, capacity: 16)) {
                try limited.submit([UInt8](repeating: 2, count: 9))
            }
        case .async:
            let batcher = try AsyncSharedBatcher<Int>(segment: segment) { books.commit($0) }
            await #expect(throws: SharedBatchError.recordTooLarge(size: 57, capacity: 64)) {
                try await batcher.submit(tooLarge)
            }
        }
        #expect(books.all.isEmpty)
        let answers = try await submitAll(api, segment, books, count: 10)
        try expectEachItemInItsBatch(answers, books)
    }

    @Test("limits out of range are refused with the rule")
    func invalidLimits() throws {
        let segment = makeSegment(SharedBatchConfiguration(coaches: 2, participants: 8, arenaCapacity: 64))
        #expect(throws: SharedBatchError.invalidConfiguration("maxBatchSize must be at least 1 (got 0)")) {
            try SharedBatcher<Int>(segment: segment, maxBatchSize: 0) { _ in 0 }
        }
        #expect(
            throws: SharedBatchError.invalidConfiguration(
                "maxBatchBytes must be 16...64, the segment's arenaCapacity (got 65)")
        ) {
            try AsyncSharedBatcher<Int>(segment: segment, maxBatchBytes: 65) { _ in 0 }
        }
        let noArena = makeSegment(SharedBatchConfiguration(coaches: 1, participants: 8, arenaCapacity: 0))
        #expect(throws: SharedBatchError.self) { try SharedBatcher<Int>(segment: noArena) { _ in 0 } }
    }

    @Test("across processes: threads and tasks of four processes submit; each record committed once")
    func acrossProcesses() throws {
        let (name, _) = try makeNamedSegment(
            SharedBatchConfiguration(
                coaches: 2, participants: 512, stateSize: 16, arenaCapacity: 64 << 10, resultCapacity: 16,
                livenessPeriod: .milliseconds(20)),
            tag: "sb")
        defer { try? SharedSegment.unlink(name: name) }
        let log = "/tmp/swift-batch-ipc-\(getpid())-\(name.dropFirst()).log"
        defer { unlink(log) }
        let helpers: [([String], Int)] = [
            (["submit", name, "50", "--threads", "3", "--log", log], 150),
            (["submit", name, "5", "--tasks", "100", "--log", log], 500),
            (["submit", name, "50", "--threads", "3", "--log", log], 150),
            (["submit", name, "5", "--tasks", "100", "--log", log], 500),
        ]
        let children = helpers.map { Child($0.0) }
        for (child, helper) in zip(children, helpers) {
            let (lines, status) = child.finish()
            #expect(status == 0, "\(helper.0): \(lines.suffix(3))")
            #expect(lines.last == "summary ok=\(helper.1) err=0 bad=0", "\(helper.0)")
        }
        let records = try readRecords(log)
        #expect(records.duplicates == 0)
        #expect(records.distinct == 1300)
    }
}

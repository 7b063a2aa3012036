// The demo over BatchIPC: the segment `spawn` creates, the sink a worker appends through, and
// crash injection at an exact phase.

import BatchIPC

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The phase (raw `WorkerPhase` value) at which this process kills itself, 0 for none. Read by
/// `crashHook`, which BatchIPC calls at every phase change of this process's worker. One
/// worker thread per process, so a plain global is enough.
nonisolated(unsafe) var armedCrashPhase: UInt32 = 0

/// BatchIPC's phase hook: dies with SIGKILL when the worker reaches the armed phase.
let crashHook: @convention(c) (UInt32) -> Void = { phase in
    if armedCrashPhase != 0 && phase == armedCrashPhase { kill(getpid(), SIGKILL) }
}

/// The segment spawn created; removes it when asked.
final class SpawnSegment: DemoSegment {
    let segment: SharedSegment
    var name: String { segment.name }

    init(_ segment: SharedSegment) { self.segment = segment }

    func counters() -> SegmentCounters {
        let c = segment.counters
        return SegmentCounters(
            batches: c.batches, workersServed: c.workersServed, crashesRecovered: c.crashesRecovered, cancels: c.cancels
        )
    }

    func remove() {
        try? SharedSegment.unlink(name: segment.name)
        segment.close()
    }
}

/// A worker's way into the shared batch: one record per operation, through `SharedMulti`.
final class SharedSink: RecordSink {
    let multi: SharedMulti<Receipt>
    let writer: LogWriter

    init(multi: SharedMulti<Receipt>, writer: LogWriter) {
        self.multi = multi
        self.writer = writer
    }

    /// The capacities spawn creates the segment with: one participant and one process per
    /// worker (plus spawn itself and a spare), and an arena per coach that holds one record of
    /// every worker twice over.
    static func configuration(workers: Int, coaches: Int, recordSize: Int, liveness: Int) -> SharedBatchConfiguration {
        let framed = 8 + (recordSize + 7) / 8 * 8
        return SharedBatchConfiguration(
            coaches: coaches, participants: workers + 2, processes: workers + 2, stateSize: 0,
            arenaCapacity: 2 * workers * framed, resultCapacity: MemoryLayout<Receipt>.size,
            livenessPeriod: .milliseconds(liveness))
    }

    static func create(
        name: String, workers: Int, coaches: Int, recordSize: Int, liveness: Int
    ) throws -> any DemoSegment {
        let config = configuration(workers: workers, coaches: coaches, recordSize: recordSize, liveness: liveness)
        return SpawnSegment(try SharedSegment.create(name: name, configuration: config))
    }

    static func open(
        segment name: String, coaches: Int, recordSize: Int, liveness: Int, yieldBudget: Int?,
        assumedCommitCost: Int?, writer: LogWriter
    ) throws -> any RecordSink {
        let segment = try SharedSegment.open(name: name)
        if let yieldBudget { segment.yieldBudget = .microseconds(yieldBudget) }
        guard segment.configuration.coaches == coaches else {
            throw DemoFailure(
                "segment \(name) has \(segment.configuration.coaches) coaches, the worker was told \(coaches)")
        }
        // The commit function: the batch's records, back to back, as one frame with one write.
        let waiting = BatchWaiting(assumedCommitCost: assumedCommitCost.map { .nanoseconds($0) })
        let multi = try SharedMulti<Receipt>(segment: segment, waiting: waiting) { [writer] contents in
            let records = contents.records
            var bytes = [UInt8]()
            bytes.reserveCapacity(records.count * writer.recordSize)
            for r in records { bytes.append(contentsOf: r) }
            return try bytes.withUnsafeBytes { try writer.commit(records: $0) }
        }
        try multi.reserveSlot()
        SharedSegment.phaseHook = crashHook
        return SharedSink(multi: multi, writer: writer)
    }

    func submit(seq: Int, record: [UInt8], crash: CrashPhase?) throws -> Receipt {
        switch crash {
        case .queued?: armedCrashPhase = WorkerPhase.queued.rawValue
        case .waiting?: armedCrashPhase = WorkerPhase.waiting.rawValue
        default: armedCrashPhase = 0
        }
        defer { armedCrashPhase = 0 }
        let multi = self.multi
        let writer = self.writer
        while true {
            let receipt: Receipt? = try multi.batch { section in
                do {
                    try multi.append(bytes: record, in: section)
                } catch SharedBatchError.arenaFull {
                    // No room left in this batch: have it committed, and retry in the next.
                    section.trigger()
                    section.leave()
                    return nil
                }
                switch crash {
                case .entered?:
                    // Inside the batch, its record appended, before commit: the batch is poisoned.
                    kill(getpid(), SIGKILL)
                case .committing?:
                    // Become this batch's committer, and die inside the commit function.
                    writer.crashArmed = true
                    section.trigger()
                default:
                    break
                }
                return try section.commit()
            }
            if let receipt { return receipt }
        }
    }
}

extension LogWriter: @unchecked Sendable {}
// @unchecked Sendable: a worker process has one thread; the commit function runs on it.

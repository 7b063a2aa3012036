import Batch
import CBatchCore
import CShmSync

#if canImport(Glibc)
    import Glibc
#endif

// Observability: the live counters and a status snapshot, read with relaxed atomic loads and never
// the lock, so that a monitor never disturbs a batch.

extension SharedSegment {
    /// The live counters, read atomically without the lock.
    public var counters: SharedBatchCounters {
        let h = header
        return SharedBatchCounters(
            batches: Int(cbatch_atomic_load_u64(&h.pointee.batches)),
            workersServed: Int(cbatch_atomic_load_u64(&h.pointee.served)),
            crashesRecovered: Int(cbatch_atomic_load_u64(&h.pointee.crashes)),
            cancels: Int(cbatch_atomic_load_u64(&h.pointee.cancels)))
    }

    /// A snapshot of the header, coaches, processes and participant slots, read without the lock
    /// (each field atomically; fields may come from slightly different moments).
    public func status() -> SharedSegmentStatus {
        let h = header.pointee
        var coaches: [SharedSegmentStatus.Coach] = []
        for c in 0..<coachCount {
            let co = coachesP + c
            coaches.append(
                .init(
                    index: c, count: Int(cbatch_atomic_load_i64(&co.pointee.count)),
                    generation: Int(cbatch_atomic_load_u64(&co.pointee.generation)),
                    triggered: cshm_atomic_load_u32(&co.pointee.triggered) != 0,
                    ready: cshm_atomic_load_u32(&co.pointee.ready) != 0,
                    arenaUsed: Int(cbatch_atomic_load_u64(arenaUsedP(c)))))
        }
        var participants: [SharedSegmentStatus.Participant] = []
        for s in 0..<slotCount {
            let slot = slotsP + s
            let proc = cshm_atomic_load_u32(&slot.pointee.proc)
            if proc == 0 { continue }
            participants.append(
                .init(
                    slot: s, pid: cshm_atomic_load_i32(&slot.pointee.pid),
                    phase: SharedParticipantPhase(rawValue: cshm_atomic_load_u32(&slot.pointee.phase)) ?? .idle,
                    coach: Int(cshm_atomic_load_i32(&slot.pointee.coach)),
                    sleepingOn: Int(cshm_atomic_load_i32(&slot.pointee.channel))))
        }
        var processes: [SharedSegmentStatus.Process] = []
        for p in 0..<procCount where cshm_atomic_load_u32(&procsP[p].state) == 1 {
            processes.append(
                .init(
                    entry: p, pid: cshm_atomic_load_i32(&procsP[p].pid),
                    queued: Int(cbatch_atomic_load_i64(&procsP[p].queued))))
        }
        return SharedSegmentStatus(
            name: name, size: size, version: Int(h.version), configuration: configuration,
            creatorPID: Int32(bitPattern: h.creator_pid), creatorUID: h.creator_uid, counters: counters,
            queueLength: processes.reduce(0) { $0 + $1.queued }, coaches: coaches,
            participants: participants, processEntries: processes)
    }
}

/// The live counters of a segment.
public struct SharedBatchCounters: Sendable, Equatable, CustomStringConvertible {
    /// Commit functions that returned (a value or an error).
    public var batches: Int
    /// Outcomes handed to workers (one per worker per batch it committed or waited for).
    public var workersServed: Int
    /// Dead participants whose state was repaired (the crash model of docs/DESIGN.md).
    public var crashesRecovered: Int
    /// Batches closed without commit: `cancel`, a failing worker, or a crashed worker.
    public var cancels: Int

    public var description: String {
        "batches \(batches), workers served \(workersServed), crashes recovered \(crashesRecovered), cancels \(cancels)"
    }
}

/// What a participant is doing, as recorded in its slot: the engine's ``WorkerPhase``.
public typealias SharedParticipantPhase = WorkerPhase

/// A snapshot of a segment, for `stat` and tests. See ``SharedSegment/status()``.
public struct SharedSegmentStatus: Sendable {
    /// One coach.
    public struct Coach: Sendable {
        public var index: Int
        /// >= 0: filling with `count` workers inside; < 0: closed, `-count` not exited yet.
        public var count: Int
        public var generation: Int
        public var triggered: Bool
        public var ready: Bool
        /// Bytes of records appended to the coach's arena in the current batch.
        public var arenaUsed: Int
    }
    /// One claimed participant slot.
    public struct Participant: Sendable {
        public var slot: Int
        public var pid: Int32
        public var phase: SharedParticipantPhase
        /// The coach of phases entered...done, -1 otherwise.
        public var coach: Int
        /// 1 while its phase is `queued`, else 0. (Announcements are counted per process: see
        /// ``SharedSegmentStatus/processEntries``.)
        public var queued: Int { phase == .queued ? 1 : 0 }
        /// The wait channel it sleeps on (0: enter, 1 + c: commit on coach c), -1 when awake.
        public var sleepingOn: Int
    }
    /// One attached process.
    public struct Process: Sendable {
        /// Its entry in the process table.
        public var entry: Int
        public var pid: Int32
        /// Announcements of its workers not entered yet.
        public var queued: Int
    }
    public var name: String
    public var size: Int
    public var version: Int
    public var configuration: SharedBatchConfiguration
    public var creatorPID: Int32
    public var creatorUID: UInt32
    public var counters: SharedBatchCounters
    /// Workers announced and not entered, over all participants.
    public var queueLength: Int
    public var coaches: [Coach]
    public var participants: [Participant]
    /// Pids of the attached processes.
    public var processes: [Int32] { processEntries.map(\.pid) }
    /// The attached processes, with their entry and queue count.
    public var processEntries: [Process]
}

import Batch
import CBatchCore
import CShmSync

#if canImport(Glibc)
    import Glibc
#endif

// Observability: the live counters and a status snapshot, read with relaxed atomic loads and never
// the lock, so that a monitor never disturbs a batch. Only a display is at stake here: values no
// process of this library writes are clamped (never a trap), not judged.

extension SharedSegment {
    /// The live counters, read atomically without the lock (each at most `Int.max`).
    public var counters: SharedBatchCounters {
        let h = header
        return SharedBatchCounters(
            batches: Int(clamping: cbatch_atomic_load_u64(&h.pointee.batches)),
            workersServed: Int(clamping: cbatch_atomic_load_u64(&h.pointee.served)),
            crashesRecovered: Int(clamping: cbatch_atomic_load_u64(&h.pointee.crashes)),
            cancels: Int(clamping: cbatch_atomic_load_u64(&h.pointee.cancels)))
    }

    /// A snapshot of the header, coaches, processes and participant slots, read without the lock
    /// (each field atomically; fields may come from slightly different moments).
    ///
    /// Whether each attached process is alive is exact: its lease's lock word says so.
    public func status() -> SharedSegmentStatus {
        var coaches: [SharedSegmentStatus.Coach] = []
        for c in 0..<coachCount {
            let co = coachesP + c
            coaches.append(
                .init(
                    // -Int.max at least, so that `-count` (workers not exited) is always defined.
                    index: c, count: max(Int(cbatch_atomic_load_i64(&co.pointee.count)), -Int.max),
                    generation: Int(clamping: cbatch_atomic_load_u64(&co.pointee.generation)),
                    triggered: cshm_atomic_load_u32(&co.pointee.triggered) != 0,
                    ready: cshm_atomic_load_u32(&co.pointee.ready) != 0,
                    arenaUsed: Int(clamping: cbatch_atomic_load_u64(arenaUsedP(c)))))
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
        var queueLength = 0
        for p in 0..<procCount where cshm_atomic_load_u32(&procsP[p].state) == 1 {
            let queued = Int(processQueue(p))
            let (sum, overflow) = queueLength.addingReportingOverflow(max(queued, 0))
            queueLength = overflow ? .max : sum
            let alive = leaseIsHeld(p)
            processes.append(.init(entry: p, pid: cshm_atomic_load_i32(&procsP[p].pid), queued: queued, alive: alive))
        }
        let h = header
        return SharedSegmentStatus(
            name: name, size: size, version: Int(cshm_atomic_load_u32(&h.pointee.version)),
            configuration: configuration,
            creatorPID: Int32(bitPattern: cshm_atomic_load_u32(&h.pointee.creator_pid)),
            creatorUID: cshm_atomic_load_u32(&h.pointee.creator_uid),
            foundCorruptBy: Int32(bitPattern: cshm_atomic_load_u32(&h.pointee.found_corrupt)), counters: counters,
            queueLength: queueLength, coaches: coaches, participants: participants, processEntries: processes)
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

/// What a participant is doing, as recorded in its slot: the engine's ``/Batch/WorkerPhase``.
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
        /// Its phase as recorded in the segment. A worker that began its batch alone and keeps
        /// the mutex records its phases when it releases it (DESIGN.md, "a batch nobody else
        /// saw"): until then it reads `queued`, and its coach's count includes it.
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
        /// Whether the process holds its lease (is alive). A dead one keeps its entry until a
        /// process of the segment repairs it: the next lock that finds it, an attach, or a slot
        /// reservation that finds the table full.
        public var alive: Bool
    }
    public var name: String
    public var size: Int
    public var version: Int
    public var configuration: SharedBatchConfiguration
    public var creatorPID: Int32
    public var creatorUID: UInt32
    /// 0; or the pid of the process that found the segment corrupt and stopped using it, its
    /// workers where they were (every process stops with
    /// ``SharedBatchError/corruptSegment(name:field:detail:)`` after its next wait, and attach
    /// refuses the segment): remove it and create a new one.
    public var foundCorruptBy: Int32
    public var counters: SharedBatchCounters
    /// Workers announced and not entered, over all participants.
    public var queueLength: Int
    public var coaches: [Coach]
    public var participants: [Participant]
    /// Pids of the attached processes that are alive.
    public var processes: [Int32] { processEntries.filter(\.alive).map(\.pid) }
    /// The attached processes, with their entry and queue count.
    public var processEntries: [Process]
}

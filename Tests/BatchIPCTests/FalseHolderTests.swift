// The section's holder fields (holder, holder_coach, holder_state) written by another process
// while a worker of this process is inside its batch. The misuse checks read those fields; this
// process's own record of its worker (phase, coach) says they are false, so the call reports the
// corrupt segment instead of a misuse trap, the worker leaves its batch as a worker that failed
// (its peers get an error, not a hang), and the lock and the section are free for the others.
import BatchIPC
import BatchTestSupport
import CBatchCore
import CShmSync
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("BatchIPC: holder fields written while a worker is inside", .serialized, .timeLimit(.minutes(1)))
struct FalseHolderTests {
    /// Which holder field another process overwrites, and the field the error names.
    enum Field: String, CaseIterable, Sendable {
        case holder = "core holder"
        case coach = "core holder coach"
        case state = "core holder state"

        func corrupt(_ file: SegmentFile) {
            let core = cshm_header_core(file.header)
            switch self {
            case .holder: core.pointee.holder = 0xdead_beef
            case .coach: core.pointee.holder_coach = 7
            // "Has its outcome" (_HolderState.decided), the keeps-lock bit kept.
            case .state: core.pointee.holder_state = (core.pointee.holder_state & ~0xff) | 2
            }
        }
    }

    /// A segment, this process's coordinator, a second mapping to write into, and a monitor (a
    /// second `SharedSegment` of this process, which does not stop using the segment when the
    /// coordinator's does).
    func setUp(_ tag: String) throws -> (String, SharedCoordinator<TestResult>, SegmentFile, SharedSegment) {
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: tag)
        let coordinator = try testCoordinator(segment)
        return (name, coordinator, try SegmentFile(name), try SharedSegment.open(name: name))
    }

    /// `setUp` for tasks: an `AsyncSharedCoordinator` whose commit returns 1.
    func asyncSetUp(_ tag: String) throws -> (String, AsyncSharedCoordinator<Int>, SegmentFile, SharedSegment) {
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: tag)
        let coordinator = try AsyncSharedCoordinator<Int>(segment: segment) { _ in 1 }
        return (name, coordinator, try SegmentFile(name), try SharedSegment.open(name: name))
    }

    /// After the failure: this process's coordinator reports the corrupt segment, and the segment
    /// works for everyone else — the lock and the section were released, the coach reset.
    func expectFreedForOthers(
        _ coordinator: SharedCoordinator<TestResult>, _ name: String, _ monitor: SharedSegment,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        #expect(sourceLocation: sourceLocation) {
            try testOp(coordinator)
        } throws: { error in
            isCorrupt(error, name, field: "core holder")
        }
        let other = try testCoordinator(monitor)
        #expect(try testOp(other).batchSize == 1, sourceLocation: sourceLocation)
        let status = monitor.status()
        #expect(status.coaches[0].count == 0 && status.queueLength == 0, "\(status)", sourceLocation: sourceLocation)
    }

    /// A peer process waits in a batch for this process's announced worker (strict waiting),
    /// which enters it and runs `inside` (index 1) and exits; the peer must get an error, not the
    /// commit and not a hang. Then the segment works for everyone but this process.
    func withWaitingPeer(_ tag: String, _ inside: (String, SharedCoordinator<TestResult>, SegmentFile) throws -> Void)
        throws
    {
        let (name, coordinator, file, monitor) = try setUp(tag)
        defer { try? SharedSegment.unlink(name: name) }
        defer { monitor.close() }
        coordinator.queueIn()
        let peer = Child(["worker", name, "1", "--watchdog", "30"])
        waitForPhase(monitor, pid: peer.pid, .waiting, sleeping: true)
        #expect(coordinator.enter() == 1)
        try inside(name, coordinator, file)
        #expect(coordinator.exit() == 0)
        let (lines, status) = peer.finish()
        #expect(status == 0 && lines.first?.hasPrefix("err 0") == true, "\(status): \(lines)")
        try expectFreedForOthers(coordinator, name, monitor)
    }

    @Test(
        "a holder field overwritten before commit: commit throws the corrupt segment, the peer waiting in the batch gets an error",
        arguments: Field.allCases)
    func beforeCommit(_ field: Field) throws {
        try withWaitingPeer("fh") { name, coordinator, file in
            try countIntoTestBatch(coordinator, coach: 0, first: false)
            field.corrupt(file)
            #expect {
                try coordinator.commit()
            } throws: { error in
                isCorrupt(error, name, field: field.rawValue)
            }
        }
    }

    @Test("the holder field overwritten after the outcome: the worker keeps its result, exit frees the section")
    func afterOutcome() throws {
        let (name, coordinator, file, monitor) = try setUp("fho")
        defer { try? SharedSegment.unlink(name: name) }
        defer { monitor.close() }
        let result = try coordinator.batch { section in
            try countIntoTestBatch(coordinator, coach: section.coach, first: section.isFirst)
            let result = try section.commit()
            Field.holder.corrupt(file)
            return result
        }
        #expect(result.batchSize == 1)
        try expectFreedForOthers(coordinator, name, monitor)
    }

    @Test("the holder field overwritten before withState: it throws, and the peer waiting in the batch gets an error")
    func beforeAppend() throws {
        try withWaitingPeer("fha") { name, coordinator, file in
            Field.holder.corrupt(file)
            #expect {
                try countIntoTestBatch(coordinator, coach: 0, first: false)
            } throws: { error in
                isCorrupt(error, name, field: "core holder")
            }
            #expect {
                try coordinator.append(bytes: [1, 2, 3])
            } throws: { error in
                isCorrupt(error, name, field: "core holder")
            }
        }
    }

    @Test("the holder field overwritten before trigger() or leave(): no trap, the batch is left")
    func triggerAndLeave() throws {
        let (name, coordinator, file, monitor) = try setUp("fht")
        defer { try? SharedSegment.unlink(name: name) }
        defer { monitor.close() }
        try coordinator.batch { section in
            try countIntoTestBatch(coordinator, coach: section.coach, first: section.isFirst)
            Field.holder.corrupt(file)
            section.trigger()
            do {
                _ = try section.commit()
                Issue.record("commit returned after the holder field was overwritten")
            } catch {
                #expect(isCorrupt(error, name, field: "core holder"), "\(error)")
            }
        }
        let other = try testCoordinator(monitor)
        #expect(try testOp(other).batchSize == 1)
        // A second mapping of this process whose coordinator leaves after the same write.
        let (name2, coordinator2, file2, monitor2) = try setUp("fhl")
        defer { try? SharedSegment.unlink(name: name2) }
        defer { monitor2.close() }
        try coordinator2.batch { section in
            Field.holder.corrupt(file2)
            section.leave()
        }
        try expectFreedForOthers(coordinator2, name2, monitor2)
    }

    @Test("a task whose holder field is overwritten before commit: commit throws, the section is free")
    func asyncBeforeCommit() async throws {
        let (name, coordinator, file, monitor) = try asyncSetUp("fhy")
        defer { try? SharedSegment.unlink(name: name) }
        defer { monitor.close() }
        await #expect {
            try await coordinator.batch { section in
                Field.holder.corrupt(file)
                return try await section.commit()
            }
        } throws: { error in
            isCorrupt(error, name, field: "core holder")
        }
        await #expect {
            try await coordinator.batch { section in try await section.commit() }
        } throws: { error in
            isCorrupt(error, name, field: "core holder")
        }
        let other = try AsyncSharedCoordinator<Int>(segment: monitor) { _ in 2 }
        #expect(try await other.batch { section in try await section.commit() } == 2)
    }

    @Test("the keeps-lock bit cleared while a worker is inside: it still knows it holds the mutex")
    func keepsLockBitCleared() throws {
        let (name, coordinator, file, monitor) = try setUp("fhk")
        defer { try? SharedSegment.unlink(name: name) }
        defer { monitor.close() }
        let result = try coordinator.batch { section in
            try countIntoTestBatch(coordinator, coach: section.coach, first: section.isFirst)
            let core = cshm_header_core(file.header)
            core.pointee.holder_state &= ~CBATCH_HOLDER_KEEPS_LOCK
            return try section.commit()
        }
        // It did not take the mutex it holds (after a liveness period: "names this thread").
        #expect(result.batchSize == 1)
        let other = try testCoordinator(monitor)
        #expect(try testOp(other).batchSize == 1)
    }

    @Test("a task finds its holder fields false while another thread holds the mutex: it still leaves its batch")
    func asyncAbandonWhileMutexBusy() async throws {
        let (name, coordinator, file, monitor) = try asyncSetUp("fhb")
        defer { try? SharedSegment.unlink(name: name) }
        defer { monitor.close() }
        nonisolated(unsafe) let mutex = cshm_header_mutex(file.header)
        nonisolated(unsafe) let lockWord = file.lockWord
        let holding = Atomic<Bool>(false)
        // Holds the segment mutex until the task sleeps on it (glibc sets the waiters bit) — or
        // for 5 s, when it never does (it gave up on the busy mutex: the failure this test shows).
        let holder = TestThread {
            precondition(cshm_mutex_lock(mutex) == 0)
            holding.store(true, ordering: .releasing)
            let deadline = monotonicSeconds() + 5
            while cshm_atomic_load_u32(lockWord) & 0x8000_0000 == 0 && monotonicSeconds() < deadline { sched_yield() }
            precondition(cshm_mutex_unlock(mutex) == 0)
        }
        await #expect {
            try await coordinator.batch { section in
                cshm_header_core(file.header).pointee.holder_coach = 7
                while !holding.load(ordering: .acquiring) { sched_yield() }
                return try await section.commit()
            }
        } throws: { error in
            isCorrupt(error, name, field: "core holder coach")
        }
        holder.join()
        let status = monitor.status()
        #expect(status.coaches[0].count == 0 && status.participants.allSatisfy { $0.phase != .entered }, "\(status)")
        let other = try AsyncSharedCoordinator<Int>(segment: monitor) { _ in 2 }
        #expect(try await other.batch { section in try await section.commit() } == 2)
    }
}

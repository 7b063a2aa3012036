// Kill tests: for each row of the crash table (docs/DESIGN.md §4) a helper process is SIGKILLed
// exactly in that phase (it kills itself from the phase hook, or the test kills it once the
// segment shows it asleep). The survivors get exactly the table's outcome, nobody hangs (time
// limits), the next batch works, and the counters say what happened.
@_spi(Testing) import BatchIPC
import BatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// How a helper takes part: a thread through `SharedCoordinator`, or a task through
/// `AsyncSharedCoordinator` (the crash table is the same for both, whoever survives).
enum WorkerAPI: String, CaseIterable, Sendable {
    case threads, tasks
    var arguments: [String] { self == .tasks ? ["--tasks", "1"] : [] }
}

@Suite("BatchIPC: crash recovery", .timeLimit(.minutes(1)))
struct CrashTests {
    /// A batch with two survivor processes asleep in commit (held open by the test process's
    /// announcement), then `victims` spawned one by one and awaited until they died. Then the
    /// test releases the batch. Returns the survivors' first output lines and the victims' pids.
    func scenario(
        _ tag: String, victims: [[String]], api: WorkerAPI = .threads, survivors survivorAPI: WorkerAPI = .threads
    ) throws -> (
        segment: SharedSegment, coordinator: SharedCoordinator<TestResult>, survivors: [String], victims: [pid_t]
    ) {
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: tag)
        defer { try? SharedSegment.unlink(name: name) }
        let coordinator = try testCoordinator(segment)
        coordinator.queueIn()  // hold: nobody commits while the test is announced
        let survivors = (0..<2).map { _ in Child(["worker", name, "1"] + survivorAPI.arguments) }
        for s in survivors { waitForPhase(segment, pid: s.pid, .waiting) }
        var pids: [pid_t] = []
        for args in victims {
            let victim = Child(["worker", name, "1"] + args + api.arguments)
            let (_, status) = victim.finish()
            #expect(status == -SIGKILL, "the victim \(args) should have been killed, exited \(status)")
            pids.append(victim.pid)
        }
        _ = coordinator.queueOut()
        coordinator.notify()
        var lines: [String] = []
        for s in survivors {
            let (out, status) = s.finish()
            #expect(status == 0, "survivor \(s.pid) exited \(status): \(out)")
            lines.append(out.first ?? "<nothing>")
        }
        return (segment, coordinator, lines, pids)
    }

    /// The next batch works for the test process and the counters say what happened.
    func expectHealthy(
        _ segment: SharedSegment, _ coordinator: SharedCoordinator<TestResult>, crashes: Int, cancels: Int,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let next = try testOp(coordinator)
        #expect(next.batchSize == 1, sourceLocation: sourceLocation)
        let counters = segment.counters
        #expect(counters.crashesRecovered == crashes, "\(counters)", sourceLocation: sourceLocation)
        #expect(counters.cancels == cancels, "\(counters)", sourceLocation: sourceLocation)
        let status = segment.status()
        #expect(status.queueLength == 0, sourceLocation: sourceLocation)
        #expect(status.coaches[0].count == 0, sourceLocation: sourceLocation)
        #expect(status.processes == [getpid()], sourceLocation: sourceLocation)
    }

    @Test(
        "row 1: a worker killed while queued — survivors commit normally, the queue is corrected",
        arguments: WorkerAPI.allCases, WorkerAPI.allCases)
    func killedQueued(_ api: WorkerAPI, survivors: WorkerAPI) throws {
        let (segment, coordinator, lines, _) = try scenario(
            "kq", victims: [["--kill", "queued"]], api: api, survivors: survivors)
        #expect(lines == ["ok 0 total=2 size=2", "ok 0 total=2 size=2"])
        try expectHealthy(segment, coordinator, crashes: 1, cancels: 0)
    }

    @Test(
        "row 2: a worker killed after entering, holding the mutex — the batch is poisoned: worker crashed (pid)",
        arguments: WorkerAPI.allCases, WorkerAPI.allCases)
    func killedEntered(_ api: WorkerAPI, survivors: WorkerAPI) throws {
        let (segment, coordinator, lines, victims) = try scenario(
            "ke", victims: [["--kill", "entered"]], api: api, survivors: survivors)
        let expected = "err 0 \(BatchError.workerCrashed(pid: victims[0]))"
        #expect(lines == [expected, expected])
        try expectHealthy(segment, coordinator, crashes: 1, cancels: 1)
    }

    @Test(
        "row 2 between steps: a worker killed inside its section without the mutex (async workers take part) — poisoned, the section freed",
        arguments: WorkerAPI.allCases, WorkerAPI.allCases)
    func killedHoldingTheSection(_ api: WorkerAPI, survivors: WorkerAPI) throws {
        let (segment, coordinator, lines, victims) = try scenario(
            "kh", victims: [["--kill", "held"]], api: api, survivors: survivors)
        let expected = "err 0 \(BatchError.workerCrashed(pid: victims[0]))"
        #expect(lines == [expected, expected])
        try expectHealthy(segment, coordinator, crashes: 1, cancels: 1)
    }

    @Test(
        "row 3: a worker killed while waiting in commit — the batch goes on with its data",
        arguments: WorkerAPI.allCases, WorkerAPI.allCases)
    func killedWaiting(_ api: WorkerAPI, survivors: WorkerAPI) throws {
        let (segment, coordinator, lines, _) = try scenario(
            "kw", victims: [["--kill", "waiting"]], api: api, survivors: survivors)
        #expect(lines == ["ok 0 total=3 size=3", "ok 0 total=3 size=3"])
        try expectHealthy(segment, coordinator, crashes: 1, cancels: 0)
    }

    /// A worker may announce its next operation from inside its batch — from the commit
    /// function, say, where it no longer holds the section. That announcement is recorded
    /// without the lock; it used to overwrite the slot's phase, so a committer killed afterwards
    /// was repaired as merely announced: no "outcome unknown" was published, its exit was not
    /// counted, and the survivors found the segment corrupt (a coach counting a worker that no
    /// slot places in it) — without the segment check they would have waited for ever.
    @Test("row 4, the committer announced its next op from the commit function: outcome unknown all the same")
    func killedCommittingAfterAnnouncing() throws {
        let (segment, coordinator, lines, victims) = try scenario(
            "kca", victims: [["--trigger", "--announce-in-commit-and-die"]])
        let expected = "err 0 \(BatchError.outcomeUnknown(committerPID: victims[0]))"
        #expect(lines == [expected, expected])
        try expectHealthy(segment, coordinator, crashes: 1, cancels: 0)
    }

    @Test(
        "row 4: the committer killed in the commit function — outcome unknown (committer pid)",
        arguments: WorkerAPI.allCases, WorkerAPI.allCases)
    func killedCommitting(_ api: WorkerAPI, survivors: WorkerAPI) throws {
        let (segment, coordinator, lines, victims) = try scenario(
            "kc", victims: [["--trigger", "--kill", "committing"]], api: api, survivors: survivors)
        let expected = "err 0 \(BatchError.outcomeUnknown(committerPID: victims[0]))"
        #expect(lines == [expected, expected])
        try expectHealthy(segment, coordinator, crashes: 1, cancels: 0)
    }

    @Test(
        "row 5: a worker killed when done, before exit, holding the mutex — nothing for the others",
        arguments: WorkerAPI.allCases, WorkerAPI.allCases)
    func killedDone(_ api: WorkerAPI, survivors: WorkerAPI) throws {
        let (segment, coordinator, lines, _) = try scenario(
            "kd", victims: [["--trigger", "--kill", "done"]], api: api, survivors: survivors)
        #expect(lines == ["ok 0 total=3 size=3", "ok 0 total=3 size=3"])
        try expectHealthy(segment, coordinator, crashes: 1, cancels: 0)
    }

    @Test(
        "two die in one batch: one waiting, then one entered — poisoned by the second, both repaired",
        arguments: WorkerAPI.allCases, WorkerAPI.allCases)
    func twoDie(_ api: WorkerAPI, survivors: WorkerAPI) throws {
        let (segment, coordinator, lines, victims) = try scenario(
            "k2", victims: [["--kill", "waiting"], ["--kill", "entered"]], api: api, survivors: survivors)
        let expected = "err 0 \(BatchError.workerCrashed(pid: victims[1]))"
        #expect(lines == [expected, expected])
        try expectHealthy(segment, coordinator, crashes: 2, cancels: 1)
    }

    /// A helper's task enters a batch and holds its section — between steps, the mutex free —
    /// while another process dies holding the mutex; then this thread, taking its participant
    /// slot, is the next locker: EOWNERDEAD, the restore, the repair. Returns the holder, still
    /// in its section: creating file `go` lets it commit.
    func holdTheSectionAcrossADeath(
        _ name: String, _ segment: SharedSegment, go: String, _ holderArguments: [String] = []
    ) throws -> Child {
        let holder = Child(["hold-section", name, go] + holderArguments)
        #expect(holder.readLine() == "holding \(holder.pid)")
        let victim = Child(["die-locked", name])
        #expect(victim.finish().status == -SIGKILL)
        try segment.reserveSlot()
        return holder
    }

    /// With async workers the section is held between steps while the mutex is free: the
    /// process that died holding the mutex is not the section's holder. The repair used to take
    /// `core.holder` for the dead mutex holder on every `EOWNERDEAD`, and so reclaimed a live
    /// process whose task held the section — poisoned its batch, freed its slots and process
    /// entry — after any other process died holding the mutex.
    @Test("a process dies holding the mutex while a task of another holds the section: that one lives on")
    func killedWhileAnAsyncTaskHoldsTheSection() throws {
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: "kas")
        defer { try? SharedSegment.unlink(name: name) }
        let go = "/tmp/swift-batch-ipc-\(getpid())-\(name.dropFirst()).go"
        defer { unlink(go) }
        let coordinator = try testCoordinator(segment)
        let holder = try holdTheSectionAcrossADeath(name, segment, go: go)
        #expect(segment.status().processes.contains(holder.pid), "the live holder's process was reclaimed")
        #expect(creat(go, 0o600) >= 0)
        let (lines, status) = holder.finish()
        #expect(status == 0)
        #expect(lines == ["ok 0 total=1 size=1"])
        try expectHealthy(segment, coordinator, crashes: 1, cancels: 0)
    }

    /// A trigger changes the coach without a phase change. With async workers the section is
    /// held while the mutex is free, so another process can die holding the mutex in between,
    /// and the restore that follows went back to the snapshot of the trigger's holder's last
    /// phase change: the trigger was lost, and its batch waited for announced workers again.
    @Test("a trigger survives a restore after another process died holding the mutex")
    func triggerSurvivesARestore() throws {
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: "ktr")
        defer { try? SharedSegment.unlink(name: name) }
        let go = "/tmp/swift-batch-ipc-\(getpid())-\(name.dropFirst()).go"
        defer { unlink(go) }
        let coordinator = try testCoordinator(segment)
        coordinator.queueIn()  // announced: only the trigger lets the holder's batch commit
        let holder = try holdTheSectionAcrossADeath(name, segment, go: go, ["--trigger"])
        #expect(creat(go, 0o600) >= 0)
        #expect(waitUntil("the triggered batch commits", seconds: 10) { segment.counters.batches == 1 })
        _ = coordinator.queueOut()
        coordinator.notify()
        let (lines, status) = holder.finish()
        #expect(status == 0)
        #expect(lines == ["ok 0 total=1 size=1"])
        try expectHealthy(segment, coordinator, crashes: 1, cancels: 0)
    }

    @Test("a killed waiter does not break later wake-ups (the condvar bug does not exist here)")
    func killedSleeperRepeated() throws {
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: "ks")
        defer { try? SharedSegment.unlink(name: name) }
        let coordinator = try testCoordinator(segment)
        var joined = 0
        for round in 0..<rounds {
            coordinator.queueIn()  // hold
            let doomed = Child(["worker", name, "1"])
            waitForPhase(segment, pid: doomed.pid, .waiting, sleeping: true)
            doomed.kill()
            #expect(doomed.finish().status == -SIGKILL)
            let next = Child(["worker", name, "1"])
            waitForPhase(segment, pid: next.pid, .waiting, sleeping: true)
            _ = coordinator.queueOut()
            coordinator.notify()
            let (lines, status) = next.finish()
            #expect(status == 0)
            // The dead sleeper's data was in the batch: the batch goes on with it (size 2) —
            // unless its death was repaired before the next worker entered: the last worker of a
            // filling batch, it left the batch empty (size 1). Both are rows of the crash table;
            // the test does not order the repair and the entry, so it needs the first at least
            // once (seen: round 14 of a TSan run got the second).
            let size = lines.first.flatMap { $0.split(separator: "=").last.map(String.init) }
            #expect(size == "2" || size == "1", "round \(round): \(lines)")
            if size == "2" { joined += 1 }
        }
        #expect(joined > 0, "no round had the dead sleeper's data in the next worker's batch")
        // Threads of this process still wake each other.
        let total = segment.counters.crashesRecovered
        #expect(total == rounds)
        runThreads(4) { _ in
            for _ in 0..<50 { _ = try? testOp(coordinator) }
        }
        #expect(segment.counters.workersServed == rounds + 200)
    }

    @Test("a creator killed while initialising leaves nothing behind; the name can be created")
    func killedCreator() throws {
        let name = uniqueSegmentName("kcreate")
        let child = Child(["create-die", name])
        #expect(child.finish().status == -SIGKILL)
        #expect(throws: SharedBatchError.notFound(name: name)) { try SharedSegment.open(name: name) }
        let segment = try SharedSegment.openOrCreate(name: name, configuration: processConfiguration)
        defer { try? SharedSegment.unlink(name: name) }
        let coordinator = try testCoordinator(segment)
        #expect(try testOp(coordinator).batchSize == 1)
    }

    @Test("torture: helpers SIGKILLed at random instants — nobody hangs, survivors finish, the segment stays sane")
    func torture() throws {
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: "tort")
        defer { try? SharedSegment.unlink(name: name) }
        let coordinator = try testCoordinator(segment)
        var generator = SystemRandomNumberGenerator()
        let survivors = (0..<3).map { _ in Child(["worker", name, "3000", "--threads", "2"]) }
        var killed = 0
        for _ in 0..<12 {
            let victim = Child(["worker", name, "100000"])
            waitUntil("the victim takes part") { segment.status().participants.contains { $0.pid == victim.pid } }
            // Random instants, for coverage of every step (not as synchronisation).
            var pause = timespec(tv_sec: 0, tv_nsec: Int.random(in: 0..<2_000_000, using: &generator))
            nanosleep(&pause, nil)
            victim.kill()
            if victim.finish().status == -SIGKILL { killed += 1 }
        }
        for s in survivors {
            let (lines, status) = s.finish()
            #expect(status == 0, "survivor \(s.pid): \(lines.suffix(3))")
            let summary = lines.last ?? ""
            #expect(summary.hasPrefix("summary ok="), "\(summary)")
            // Every op got an answer: a value, or the crash errors of the table.
            for line in lines where line.hasPrefix("err ") {
                #expect(line.contains("worker crashed") || line.contains("outcome unknown"), "\(line)")
            }
        }
        #expect(killed == 12)
        #expect(segment.counters.crashesRecovered >= 1)
        let before = segment.status()
        let last = try testOp(coordinator)
        #expect(last.batchSize == 1, "\(last); before it: \(before.coaches), \(before.participants)")
        let status = segment.status()
        #expect(status.queueLength == 0)
        #expect(status.coaches[0].count == 0)
        #expect(
            waitUntil("dead processes reaped") {
                _ = try? testOp(coordinator)
                return segment.status().processes == [getpid()]
            })
    }
}

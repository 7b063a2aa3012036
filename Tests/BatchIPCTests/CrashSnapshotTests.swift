// Kill tests around the crash snapshot (docs/DESIGN.md §4): a holder killed between phase
// changes, a repairer killed half-way, a worker killed alone in a batch nobody else saw, and a
// holder's thread ending on either side of a snapshot. Part of the crash-recovery suite
// (CrashTests.swift has the table's rows).
@_spi(Testing) import BatchIPC
import BatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension CrashTests {
    /// The crash snapshot is taken at a phase change, after the step's changes: a process that
    /// dies holding the lock before its first phase change leaves the state of the last one —
    /// which must not name as the section's holder a worker that had left it (it did, when the
    /// snapshot of an exit was taken before the section was released: the survivors then found
    /// the segment "corrupt").
    @Test("a process killed holding the lock between phase changes: the snapshot names no holder that left")
    func killedHoldingTheLockBetweenPhases() throws {
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: "kl")
        defer { try? SharedSegment.unlink(name: name) }
        let coordinator = try testCoordinator(segment)
        #expect(try testOp(coordinator).batchSize == 1)  // its exit is the last phase change
        let victim = Child(["die-locked", name])
        #expect(victim.finish().status == -SIGKILL)
        #expect(try testOp(coordinator).batchSize == 1)
        #expect(segment.counters.crashesRecovered == 1)
        #expect(segment.failure == nil)
    }

    /// Two deaths close together (a process group killed, the OOM killer): a worker dies
    /// holding the lock inside a filling batch, and the process that repairs it dies in the
    /// middle of that repair. The next locker restores the last snapshot; it must match the
    /// slots. It did not when a repaired slot was freed before the repaired coaches were
    /// snapshotted (found by the model, model/README.md): the next locker restored the coach
    /// with the dead worker still inside, found no slot to repair, joined its poisoned batch and
    /// was told success — and the coach never emptied again. (The victim joins a batch another
    /// worker is in: a batch nobody else saw is undone by its worker's death, no row to apply.)
    @Test(
        "a repairer killed half-way through a repair: the next one finishes it, nothing is lost or joined",
        arguments: _RepairPoint.allCases)
    func killedRepairing(_ point: _RepairPoint) throws {
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: "kr\(point.rawValue)")
        defer { try? SharedSegment.unlink(name: name) }
        let coordinator = try testCoordinator(segment)
        let first = stoppedFirstWorker(name, segment, coordinator)
        let victim = Child(["worker", name, "1", "--kill", "entered"])
        #expect(victim.finish().status == -SIGKILL)
        let repairer = Child(["die-repairing", name, "\(point.rawValue)"])
        let (out, exit) = repairer.finish()
        #expect(exit == -SIGKILL, "the repairer should have died at \(point): \(out)")
        _ = coordinator.queueOut()
        first.kill(SIGCONT)
        let (lines, status) = first.finish()
        #expect(status == 0)
        #expect(lines.first == "err 0 \(BatchError.workerCrashed(pid: victim.pid))")
        // The poisoned batch is over: the next one is this process's, alone.
        #expect(try testOp(coordinator).batchSize == 1)
        let state = segment.status()
        try #require(state.coaches[0].count == 0, "the coach keeps a member nobody can remove: \(state)")
        #expect(state.participants.map(\.pid) == [getpid()] && state.queueLength == 0, "\(state)")
        #expect(try testOp(coordinator).batchSize == 1)
        #expect(segment.status().processes == [getpid()])
        #expect(segment.failure == nil)
        // Statistics are not part of the snapshot. The poisoned batch's cancel is counted by
        // every repairer that applied the row; the crash is counted once its row is recorded,
        // and not at all when the dead repairer had already tried the victim's lease (the next
        // one then finds it released, as if the victim had detached; the repair is the same).
        let counters = segment.counters
        #expect(counters.cancels == (point == .rowApplied ? 2 : 1), "\(counters)")
        #expect(counters.crashesRecovered == (point == .slotFreed ? 1 : 0), "\(counters)")
    }

    /// A worker alone in its batch keeps the lock from its entering to its exit, and nobody
    /// else sees that batch: its phases until it releases the lock are not recorded in the
    /// segment, and its death undoes the batch — the state is restored to before it entered,
    /// as if it had died announced (DESIGN.md, "a batch nobody else saw"). Nobody is told
    /// anything (nobody else was in it); no batch is cancelled; the crash is counted.
    @Test(
        "a worker killed alone in its batch before it releases the lock: the batch is undone",
        arguments: ["entered", "committing", "done"])
    func killedAloneInItsBatch(_ phase: String) throws {
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: "ka\(phase.prefix(2))")
        defer { try? SharedSegment.unlink(name: name) }
        let coordinator = try testCoordinator(segment)
        let victim = Child(["worker", name, "1", "--kill", phase])
        #expect(victim.finish().status == -SIGKILL)
        // Killed when its commit function was about to run (`committing`) or after it returned
        // and the outcome was published (`done`): only then was a batch committed.
        #expect(segment.counters.batches == (phase == "done" ? 1 : 0))
        #expect(try testOp(coordinator).batchSize == 1)
        try expectHealthy(segment, coordinator, crashes: 1, cancels: 0)
    }

    /// A worker of a helper process waits in commit in coach 0 — held open by an announcement of
    /// this process, taken back by the caller — and is then stopped (`SIGSTOP`), so that it
    /// neither repairs nor commits until the caller continues it (`SIGCONT`). A worker that
    /// comes next joins its batch, whose phases are then recorded (those of a batch nobody else
    /// saw are not).
    func stoppedFirstWorker(
        _ name: String, _ segment: SharedSegment, _ coordinator: SharedCoordinator<TestResult>
    ) -> Child {
        coordinator.queueIn()
        let first = Child(["worker", name, "1"])
        // Stopped asleep in commit: not between its note of `waiting` and the release of the
        // mutex, where it would keep the mutex while stopped (and nobody could lock).
        while true {
            waitForPhase(segment, pid: first.pid, .waiting)
            first.kill(SIGSTOP)
            #expect(waitUntil("pid \(first.pid) is stopped") { allThreadsStopped(first.pid) })
            if !segment._mutexIsHeld { return first }
            first.kill(SIGCONT)
        }
    }

    /// A holder can die between the crash snapshot of a phase change and the slot's phase
    /// store, and its process's lease can still look alive to the next locker (the threads of a
    /// killed process exit one by one; here the worker's thread alone ends). The restore must
    /// bring the slot to the snapshot's phase whoever owns it; it did so only when the owner was
    /// known dead, so the slot kept its previous phase — `done` in coach 0 — and when the lease
    /// was marked later, that stale row counted the exit a second time and emptied the coach
    /// under the next batch's worker (found by the model, model/README.md).
    @Test("a holder whose thread ends between snapshot and slot store: its exit is counted once")
    func threadEndsBetweenSnapshotAndSlot() throws {
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: "kc")
        defer { try? SharedSegment.unlink(name: name) }
        let coordinator = try testCoordinator(segment)
        coordinator.queueIn()  // hold: the three commit together once the test lets go
        let first = (0..<2).map { _ in Child(["worker", name, "1"]) }
        for w in first { waitForPhase(segment, pid: w.pid, .waiting) }
        // Its thread ends recording `idle` on exit, holding the lock; its process lives on.
        let victim = Child(["worker", name, "1", "--thread-dies-noting", "idle"])
        waitForPhase(segment, pid: victim.pid, .waiting)
        _ = coordinator.queueOut()
        coordinator.notify()
        for w in first {
            let (lines, status) = w.finish()
            #expect(status == 0)
            #expect(lines.first == "ok 0 total=3 size=3")
        }
        // A worker of the next batch waits inside coach 0 while the test holds it open...
        coordinator.queueIn()
        let next = Child(["worker", name, "1", "--watchdog", "30"])
        waitForPhase(segment, pid: next.pid, .waiting)
        // ... when the victim's process dies: its lease is marked, its slot repaired.
        victim.kill()
        #expect(victim.finish().status == -SIGKILL)
        #expect(
            waitUntil("the victim's process entry is reclaimed") { !segment.status().processes.contains(victim.pid) })
        let status = segment.status()
        #expect(status.coaches[0].count == 1, "the next batch's worker is still inside: \(status)")
        _ = coordinator.queueOut()
        coordinator.notify()
        let (lines, exit) = next.finish()
        #expect(exit == 0)
        #expect(lines.first == "ok 0 total=4 size=1")
        try #require(segment.status().coaches[0].count == 0)
        try expectHealthy(segment, coordinator, crashes: 1, cancels: 0)
    }

    /// A holder can also die after a step changed the state and before that step's snapshot —
    /// here its exit released the section — with its process's lease still held (the threads of
    /// a killed process exit one by one; here the worker's thread alone ends). The restore then
    /// brings back a snapshot in which it holds the section and keeps the lock: the lock's dead
    /// holder. The repair took the dead holder from the section's holder before the restore only
    /// (nobody, here), so the check after the restore found the section held by a live process
    /// without the lock, called the segment corrupt, and this process stopped using it — in a
    /// torture run while its worker waited inside a batch, and the other survivors hung. The
    /// victim joins a batch another worker is in, so that each of its phases is recorded; the
    /// row of the phase before the one it dies noting decides what that worker gets.
    @Test(
        "a holder whose thread ends before the snapshot of a step: the restored holder is the lock's dead holder",
        arguments: ["entered", "committing", "done", "idle"])
    func threadEndsBeforeTheSnapshot(_ phase: String) throws {
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: "kx\(phase.prefix(2))")
        defer { try? SharedSegment.unlink(name: name) }
        let coordinator = try testCoordinator(segment)
        let first = stoppedFirstWorker(name, segment, coordinator)
        let victim = Child(["worker", name, "1", "--thread-dies-before-noting", phase])
        if phase != "entered" {
            // It waits for this process's announcement, then commits the batch.
            waitForPhase(segment, pid: victim.pid, .waiting)
            _ = coordinator.queueOut()
            coordinator.notify()
        } else {
            _ = coordinator.queueOut()
        }
        #expect(victim.readLine() == "thread-ended")
        first.kill(SIGCONT)
        let (lines, status) = first.finish()
        let reclaimed = !segment.status().processes.contains(victim.pid)
        victim.kill()  // first: its process would outlive a failed expectation
        #expect(victim.finish().status == -SIGKILL)
        #expect(status == 0)
        let expected =
            switch phase {
            case "entered": "ok 0 total=1 size=1"  // restored to before it entered: the first commits alone
            case "committing": "ok 0 total=2 size=2"  // restored waiting: its item is committed with the batch
            case "done": "err 0 \(BatchError.outcomeUnknown(committerPID: victim.pid))"  // restored committing
            default: "ok 0 total=2 size=2"  // restored done: the published outcome stands
            }
        #expect(lines.first == expected)
        #expect(segment.failure == nil)
        // The lock's dead holder is its process: reclaimed at once, lease held or not — except
        // after a commit out of place, which released the section (and the restored wait had
        // too): nothing then names the victim as the lock's holder, and it is reclaimed when its
        // process dies.
        #expect(reclaimed || phase == "committing", "the lock's dead holder is not reclaimed")
        try expectHealthy(segment, coordinator, crashes: 1, cancels: 0)
    }
}

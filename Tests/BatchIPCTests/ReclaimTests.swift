// Dead participants are reclaimed whenever someone could use their place: a process killed while
// idle leaves a process entry and a participant slot that a newcomer gets (attach and slot
// reservation repair first), `status()` tells live attachments from dead ones at once, and every
// death is counted.
import BatchIPC
import BatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("BatchIPC: dead participants are reclaimed", .timeLimit(.minutes(1)))
struct ReclaimTests {
    /// Starts `count` idle helpers and returns them once each holds a process entry and a slot.
    func idleHelpers(_ name: String, _ count: Int) throws -> [Child] {
        let children = (0..<count).map { _ in Child(["idle", name]) }
        for child in children {
            let line = child.readLine()
            try #require(line == "ready \(child.pid)", "helper \(child.pid) said \(line ?? "nothing")")
        }
        return children
    }

    /// A named segment of the tests' configuration with `processes` entries and `participants` slots.
    func segment(processes: Int, participants: Int, tag: String) throws -> (name: String, segment: SharedSegment) {
        var configuration = processConfiguration
        configuration.processes = processes
        configuration.participants = participants
        return try makeNamedSegment(configuration, tag: tag)
    }

    func killAll(_ children: [Child]) {
        for child in children {
            child.kill()
            let (_, status) = child.finish()
            #expect(status == -SIGKILL)
        }
    }

    @Test("processes killed while idle: a newcomer attaches into the full process table")
    func processEntriesReclaimedByAttach() throws {
        let (name, segment) = try segment(processes: 2, participants: 2, tag: "reclaim")
        defer { try? SharedSegment.unlink(name: name) }
        let children = try idleHelpers(name, 2)
        #expect(Set(segment.status().processes) == Set(children.map(\.pid)))
        killAll(children)
        // Nobody has repaired anything yet: status() says at once that they are gone.
        let status = segment.status()
        #expect(status.processEntries.count == 2 && status.processEntries.allSatisfy { !$0.alive })
        #expect(status.processes.isEmpty)
        // The newcomer gets an entry and a slot, and both deaths are counted.
        let coordinator = try testCoordinator(segment)
        #expect(try testOp(coordinator).batchSize == 1)
        #expect(segment.counters.crashesRecovered == 2)
        #expect(segment.status().processes == [getpid()])
    }

    @Test("a thread's first batch finds the slots of killed idle processes free")
    func slotsReclaimedByReservation() throws {
        let (name, segment) = try segment(processes: 4, participants: 2, tag: "slots")
        defer { try? SharedSegment.unlink(name: name) }
        let coordinator = try testCoordinator(segment)  // attached before they die: no repair at attach
        let children = try idleHelpers(name, 2)
        #expect(segment.status().participants.count == 2)
        killAll(children)
        #expect(try testOp(coordinator).batchSize == 1)
        #expect(segment.counters.crashesRecovered == 2)
    }
}

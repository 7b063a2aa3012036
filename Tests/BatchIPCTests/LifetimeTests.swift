// Lifetimes the API cannot let users get wrong: a coordinator used after `close()`, a thread
// that finds the participant table full on its first batch, a segment closed by one thread
// while another uses it. None crashes; each gets a typed error or keeps working.
import BatchIPC
import BatchTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("BatchIPC: lifetimes", .timeLimit(.minutes(1)))
struct LifetimeTests {
    @Test("a coordinator used after close() fails safely with a typed error; status() still works")
    func useAfterClose() throws {
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: "close")
        defer { try? SharedSegment.unlink(name: name) }
        let monitor = try SharedSegment.open(name: name)
        defer { monitor.close() }
        let coordinator = try testCoordinator(segment)
        #expect(try testOp(coordinator).batchSize == 1)
        #expect(monitor.status().processes == [getpid()])
        segment.close()
        segment.close()  // idempotent
        // Detached at once: entry and slot are free for others.
        #expect(monitor.status().processes.isEmpty)
        #expect(monitor.status().participants.isEmpty)
        // Every later call fails safely, on this thread and on a new one.
        #expect(throws: SharedBatchError.closed(name: name)) { try testOp(coordinator) }
        coordinator.queueIn()
        #expect(coordinator.enter() == -1)  // and it no longer counts as coming
        coordinator.notify()
        coordinator.queueIn()
        #expect(coordinator.queueOut() == 0)
        #expect(segment.failure == .closed(name: name))
        let thread = TestThread {
            #expect(throws: SharedBatchError.closed(name: name)) { try testOp(coordinator) }
            #expect(throws: SharedBatchError.closed(name: name)) { try segment.reserveSlot() }
        }
        thread.join()
        #expect(throws: SharedBatchError.closed(name: name)) { try testCoordinator(segment) }
        // The mapping lives as long as the segment object: a monitor's reads go on.
        #expect(segment.counters.batches == 1)
        _ = segment.status()
        // Nothing was left behind: another process attaches and batches.
        let again = try testCoordinator(monitor)
        #expect(try testOp(again).batchSize == 1)
    }

    /// The async side of the same: a task waiting to enter (suspended, a batch committing) when
    /// the segment is closed gets `.closed` once `close()` has let the committing worker finish;
    /// every later call — coordinator and batcher — throws `.closed`.
    @Test("async: close() lets the committing task finish; a task waiting to enter and later calls get .closed")
    func asyncUseAfterClose() async throws {
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: "aclose")
        defer { try? SharedSegment.unlink(name: name) }
        let monitor = try SharedSegment.open(name: name)
        defer { monitor.close() }
        let committing = Atomic<Bool>(false)
        let release = Atomic<Bool>(false)
        let coordinator = try AsyncSharedCoordinator<Int>(segment: segment) { _ in
            committing.store(true, ordering: .releasing)
            while !release.load(ordering: .acquiring) { await Task.yield() }
            return 7
        }
        let committer = Task { try await coordinator.batch { section in try await section.commit() } }
        await waitUntilAsync("the commit function runs") { committing.load(ordering: .acquiring) }
        let late = Task { try await coordinator.batch { section in try await section.commit() } }
        await waitUntilAsync("the late task waits to enter") {
            segment.status().queueLength == 1 && monitor.status().coaches[0].count < 0
        }
        let closer = TestThread { segment.close() }
        await waitUntilAsync("close() began (nothing new starts)") { segment.failure == .closed(name: name) }
        release.store(true, ordering: .releasing)
        closer.join()
        #expect(try await committer.value == 7)
        await #expect(throws: SharedBatchError.closed(name: name)) { try await late.value }
        await #expect(throws: SharedBatchError.closed(name: name)) {
            try await coordinator.batch { section in try await section.commit() }
        }
        #expect(coordinator.queueLength == 0)
        #expect(monitor.status().processes.isEmpty)
        // Nothing was left behind: another coordinator attaches and batches.
        let again = try AsyncSharedCoordinator<Int>(segment: monitor) { _ in 8 }
        #expect(try await again.batch { section in try await section.commit() } == 8)
    }

    @Test("close() waits for a worker of this process inside a batch, then fails the late ones")
    func closeWhileInside() throws {
        let segment = makeSegment(processConfiguration)
        let coordinator = try testCoordinator(segment)
        let inside = Atomic<Bool>(false)
        let release = Atomic<Bool>(false)
        let worker = TestThread {
            let result = try? coordinator.batch { section in
                inside.store(true, ordering: .releasing)
                while !release.load(ordering: .acquiring) { sched_yield() }
                return try section.commit()
            }
            #expect(result != nil)  // committed: close() waited for it
        }
        waitUntil("the worker is inside") { inside.load(ordering: .acquiring) }
        let closer = TestThread { segment.close() }
        release.store(true, ordering: .releasing)
        closer.join()
        worker.join()
        #expect(throws: SharedBatchError.closed(name: segment.name)) { try testOp(coordinator) }
    }

    @Test("a full participant table on a thread's first batch is an error of that batch, not a trap")
    func participantTableFullOnFirstUse() throws {
        var configuration = processConfiguration
        configuration.participants = 1
        let segment = makeSegment(configuration)
        let coordinator = try testCoordinator(segment)
        #expect(try testOp(coordinator).batchSize == 1)  // this thread holds the only slot
        let other = TestThread {
            #expect(throws: SharedBatchError.participantTableFull(capacity: 1)) { try testOp(coordinator) }
            let ticket = coordinator.ticket()
            ticket.leave()
            #expect(coordinator.queueLength == 0)
        }
        other.join()
        #expect(try testOp(coordinator).batchSize == 1)
    }
}

// Bad input: every case gives a typed error whose message says what to do; none crashes, hangs
// or corrupts the segment for the processes already using it.
import BatchIPC
import BatchTestSupport
import CShmSync
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("BatchIPC: bad input", .timeLimit(.minutes(1)))
struct BadInputTests {
    /// Runs `body` with a read-write descriptor of the segment file.
    func withFile(_ name: String, _ body: (Int32) throws -> Void) throws {
        let fd = open("/dev/shm" + name, O_RDWR)
        try #require(fd >= 0)
        defer { close(fd) }
        try body(fd)
    }

    func poke<T: BitwiseCopyable>(_ fd: Int32, _ field: PartialKeyPath<cshm_header>, _ value: T) -> T {
        let offset = MemoryLayout<cshm_header>.offset(of: field)!
        var old = value
        _ = withUnsafeMutableBytes(of: &old) { pread(fd, $0.baseAddress, MemoryLayout<T>.size, off_t(offset)) }
        var v = value
        _ = withUnsafeBytes(of: &v) { pwrite(fd, $0.baseAddress, MemoryLayout<T>.size, off_t(offset)) }
        return old
    }

    @Test("invalid names are refused with the rule")
    func invalidNames() {
        let long = "/" + String(repeating: "x", count: 300)
        for name in ["", "noslash", "/", "/a/b", long, "/.", "/..", "/a\u{0}b"] {
            #expect {
                try SharedSegment.create(name: name, configuration: SharedBatchConfiguration())
            } throws: { error in
                guard case SharedBatchError.invalidName(let n, _) = error else { return false }
                return n == name && "\(error)".contains("one leading '/'")
            }
            #expect(throws: SharedBatchError.self) { try SharedSegment.open(name: name) }
            #expect(throws: SharedBatchError.self) { try SharedSegment.unlink(name: name) }
        }
    }

    @Test("invalid configurations are refused")
    func invalidConfigurations() {
        let bad = [
            SharedBatchConfiguration(coaches: 0), SharedBatchConfiguration(coaches: 5000),
            SharedBatchConfiguration(participants: 0), SharedBatchConfiguration(stateSize: -1),
            SharedBatchConfiguration(livenessPeriod: .zero),
            SharedBatchConfiguration(livenessPeriod: .seconds(Int64.max)),  // does not fit in ns: refused, no trap
            SharedBatchConfiguration(livenessPeriod: .seconds(-Int64.max)),
        ]
        for configuration in bad {
            #expect {
                try SharedSegment.create(name: uniqueSegmentName("cfg"), configuration: configuration)
            } throws: { error in
                if case SharedBatchError.invalidConfiguration = error { return true }
                return false
            }
        }
    }

    @Test("a tampered header (magic, version, capacity, sizes) is refused; live users go on")
    func tamperedHeader() throws {
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: "hdr")
        defer { try? SharedSegment.unlink(name: name) }
        let live = try testCoordinator(segment)
        #expect(try testOp(live).batchSize == 1)
        try withFile(name) { fd in
            let magic = poke(fd, \cshm_header.magic, UInt64(0x1234))
            #expect(throws: SharedBatchError.badMagic(name: name)) { try SharedSegment.open(name: name) }
            _ = poke(fd, \cshm_header.magic, magic)

            let version = poke(fd, \cshm_header.version, UInt32(99))
            #expect(throws: SharedBatchError.versionMismatch(name: name, found: 99, expected: CSHM_VERSION)) {
                try SharedSegment.open(name: name)
            }
            _ = poke(fd, \cshm_header.version, version)

            let coaches = poke(fd, \cshm_header.coaches, UInt32(3))
            #expect(throws: (any Error).self) { try SharedSegment.open(name: name) }
            #expect {
                try SharedSegment.open(name: name)
            } throws: { error in
                guard case SharedBatchError.layoutMismatch = error else { return false }
                return "\(error)".contains("batch-shm-demo unlink \(name)")
            }
            _ = poke(fd, \cshm_header.coaches, UInt32(0xFFFF_FFFF))
            #expect {
                try SharedSegment.open(name: name)
            } throws: { error in
                guard case SharedBatchError.layoutMismatch(_, let detail) = error else { return false }
                return detail.contains("out of range")
            }
            _ = poke(fd, \cshm_header.coaches, coaches)

            let offset = poke(fd, \cshm_header.off_arena, UInt64(1 << 40))
            #expect {
                try SharedSegment.open(name: name)
            } throws: { error in
                if case SharedBatchError.layoutMismatch = error { return true }
                return false
            }
            _ = poke(fd, \cshm_header.off_arena, offset)

            let mutexSize = poke(fd, \cshm_header.size_mutex, UInt32(48))
            #expect {
                try SharedSegment.open(name: name)
            } throws: { error in
                guard case SharedBatchError.layoutMismatch(_, let detail) = error else { return false }
                return detail.contains("mutex")
            }
            _ = poke(fd, \cshm_header.size_mutex, mutexSize)
        }
        // Nothing was written by the failed opens: the live coordinator goes on, a fresh open works.
        #expect(try testOp(live).batchSize == 1)
        let again = try SharedSegment.open(name: name)
        again.close()
    }

    @Test("a segment of the wrong size (larger, truncated, shorter than a header) is refused")
    func wrongSize() throws {
        // No live user here: shrinking a mapped file would fault its users (SIGBUS).
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: "size")
        defer { try? SharedSegment.unlink(name: name) }
        let total = segment.status().size
        segment.close()
        try withFile(name) { fd in
            #expect(ftruncate(fd, off_t(total + 4096)) == 0)
            #expect {
                try SharedSegment.open(name: name)
            } throws: { error in
                if case SharedBatchError.layoutMismatch = error { return true }
                return false
            }
            #expect(ftruncate(fd, off_t(total - 64)) == 0)
            #expect(throws: SharedBatchError.truncated(name: name, size: total - 64, expected: total)) {
                try SharedSegment.open(name: name)
            }
            #expect(ftruncate(fd, 100) == 0)
            #expect {
                try SharedSegment.open(name: name)
            } throws: { error in
                guard case SharedBatchError.truncated(_, let size, _) = error else { return false }
                return size == 100 && "\(error)".contains("unlink")
            }
            #expect(ftruncate(fd, 0) == 0)
            #expect(throws: SharedBatchError.self) { try SharedSegment.open(name: name) }
        }
    }

    @Test("a segment of another user, or readable by others, is refused")
    func ownerAndMode() throws {
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: "own")
        defer { try? SharedSegment.unlink(name: name) }
        let live = try testCoordinator(segment)
        var st = stat()
        #expect(stat("/dev/shm" + name, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)
        try withFile(name) { fd in
            #expect(fchmod(fd, 0o644) == 0)
            #expect(throws: SharedBatchError.insecureMode(name: name, mode: st.st_mode & ~0o777 | 0o644)) {
                try SharedSegment.open(name: name)
            }
            #expect(fchmod(fd, 0o600) == 0)
            if geteuid() == 0 {
                #expect(fchown(fd, 65534, 65534) == 0)
                #expect {
                    try SharedSegment.open(name: name)
                } throws: { error in
                    guard case SharedBatchError.foreignOwner(_, let owner, _) = error else { return false }
                    return owner == 65534 && "\(error)".contains("run as its owner")
                }
                #expect(fchown(fd, 0, 0) == 0)
            }
        }
        #expect(try testOp(live).batchSize == 1)
    }

    @Test("create over an existing name, a configuration mismatch, a missing name")
    func existence() throws {
        let (name, segment) = try makeNamedSegment(processConfiguration, tag: "ex")
        defer { try? SharedSegment.unlink(name: name) }
        let live = try testCoordinator(segment)
        #expect(throws: SharedBatchError.alreadyExists(name: name)) {
            try SharedSegment.create(name: name, configuration: processConfiguration)
        }
        var other = processConfiguration
        other.coaches = 2
        #expect {
            try SharedSegment.openOrCreate(name: name, configuration: other)
        } throws: { error in
            guard case SharedBatchError.configurationMismatch = error else { return false }
            return "\(error)".contains("coaches 1")
        }
        let same = try SharedSegment.openOrCreate(name: name, configuration: processConfiguration)
        same.close()
        let missing = uniqueSegmentName("missing")
        #expect(throws: SharedBatchError.notFound(name: missing)) { try SharedSegment.open(name: missing) }
        #expect(throws: SharedBatchError.notFound(name: missing)) { try SharedSegment.unlink(name: missing) }
        #expect(try testOp(live).batchSize == 1)
    }

    @Test("full participant table and full process table")
    func fullTables() throws {
        var configuration = processConfiguration
        configuration.participants = 2
        configuration.processes = 1
        let segment = makeSegment(configuration)
        let coordinator = try testCoordinator(segment)
        // Two threads hold the two slots; a third gets the error, then a slot frees at thread exit.
        let release = Atomic<Bool>(false)
        let reserved = Atomic<Int>(0)
        let holders = (0..<2).map { _ in
            TestThread {
                try! coordinator.reserveSlot()
                reserved.add(1, ordering: .releasing)
                while !release.load(ordering: .acquiring) { sched_yield() }
            }
        }
        waitUntil("two slots reserved") { reserved.load(ordering: .acquiring) == 2 }
        let third = TestThread {
            #expect(throws: SharedBatchError.participantTableFull(capacity: 2)) { try coordinator.reserveSlot() }
        }
        third.join()
        release.store(true, ordering: .releasing)
        for h in holders { h.join() }
        let fourth = TestThread {
            #expect(throws: Never.self) { try coordinator.reserveSlot() }
            #expect((try? testOp(coordinator))?.batchSize == 1)
        }
        fourth.join()
        // A second attachment in this process needs a second process entry.
        let name = uniqueSegmentName("procs")
        let named = try SharedSegment.create(name: name, configuration: configuration)
        defer { try? SharedSegment.unlink(name: name) }
        _ = try testCoordinator(named)
        let second = try SharedSegment.open(name: name)
        #expect(throws: SharedBatchError.processTableFull(capacity: 1)) { try testCoordinator(second) }
    }

    struct Big: BitwiseCopyable {
        var a: (Int64, Int64, Int64, Int64) = (0, 0, 0, 0)
    }

    @Test("state, record and result larger than the capacities; a full arena; wrong coach count")
    func capacities() throws {
        var configuration = processConfiguration
        configuration.arenaCapacity = 64
        let segment = makeSegment(configuration)
        let coordinator = try testCoordinator(segment)
        let result = try coordinator.batch { section in
            #expect(throws: SharedBatchError.stateTooLarge(size: 32, capacity: 16)) {
                try coordinator.withState(Big.self, in: section) { _ in }
            }
            #expect(throws: SharedBatchError.recordTooLarge(size: 100, capacity: 64)) {
                try coordinator.append(bytes: [UInt8](repeating: 1, count: 100), in: section)
            }
            try coordinator.append(bytes: [UInt8](repeating: 2, count: 40), in: section)
            #expect(throws: SharedBatchError.arenaFull(needed: 48, available: 16, capacity: 64)) {
                try coordinator.append(bytes: [UInt8](repeating: 3, count: 40), in: section)
            }
            try countIntoTestBatch(coordinator, coach: section.coach, first: section.isFirst)
            return try section.commit()
        }
        #expect(result.batchSize == 1)
        #expect(try testOp(coordinator).batchSize == 1)

        var small = processConfiguration
        small.resultCapacity = 8
        #expect(throws: SharedBatchError.resultTooLarge(size: 16, capacity: 8)) {
            try testCoordinator(makeSegment(small))
        }
        var two = processConfiguration
        two.coaches = 2
        let twoCoaches = makeSegment(two)
        #expect {
            try testCoordinator(twoCoaches)
        } throws: { error in
            guard case SharedBatchError.wrongCoachCount(_, 2) = error else { return false }
            return "\(error)".contains("SharedMulti")
        }
    }
}

import Batch
import CBatchCore
import CShmSync

#if canImport(Glibc)
    import Glibc
#endif

// The lifetime of a segment: its name, create (unnamed, initialised, then named), open (every
// field checked, see SegmentLayout.swift), openOrCreate, unlink. `close()` is in SharedSegment.swift.

extension SharedSegment {
    // MARK: - Names

    /// Checks a segment name: one leading `/`, no other `/`, not `/.` or `/..`, no NUL, at most
    /// 255 bytes.
    /// - Throws: ``SharedBatchError/invalidName(_:reason:)``.
    public static func validate(name: String) throws(SharedBatchError) {
        let bytes = Array(name.utf8)
        guard bytes.first == UInt8(ascii: "/") else { throw .invalidName(name, reason: "it must start with '/'") }
        guard bytes.count >= 2 else { throw .invalidName(name, reason: "it is empty after the '/'") }
        guard bytes.count <= 255 else { throw .invalidName(name, reason: "it is longer than 255 bytes") }
        guard !bytes.dropFirst().contains(UInt8(ascii: "/")) else {
            throw .invalidName(name, reason: "it contains a '/' after the first character")
        }
        guard !bytes.contains(0) else { throw .invalidName(name, reason: "it contains a NUL byte") }
        guard name != "/." && name != "/.." else { throw .invalidName(name, reason: "'.' and '..' are not names") }
    }

    /// Where glibc keeps POSIX shared-memory objects on Linux (`shm_open` opens `/dev/shm/NAME`).
    static let directory = "/dev/shm"

    // MARK: - Create, open, unlink

    /// Creates a segment named `name` with `configuration`; fails if the name exists.
    ///
    /// The segment is built unnamed (`O_TMPFILE` in `/dev/shm`, mode 0600), fully initialised,
    /// and only then given its name with `linkat`, so no process ever sees a half-initialised
    /// segment, and a creator that dies while initialising leaves nothing behind.
    /// - Throws: ``SharedBatchError``: an invalid name or configuration, `.alreadyExists`, or a
    ///   failed system call.
    public static func create(name: String, configuration: SharedBatchConfiguration) throws(SharedBatchError)
        -> SharedSegment
    {
        try validate(name: name)
        try configuration.validate()
        var h = cshm_header()
        h.coaches = UInt32(configuration.coaches)
        h.slots = UInt32(configuration.participants)
        h.procs = UInt32(configuration.processes)
        h.state_size = UInt64(configuration.stateSize)
        h.arena_capacity = UInt64(configuration.arenaCapacity)
        h.result_capacity = UInt64(configuration.resultCapacity)
        h.liveness_ns = UInt64(configuration.livenessNanoseconds)
        guard cshm_layout(&h) == 0 else { throw .invalidConfiguration("capacities out of range") }
        h.magic = CSHM_MAGIC
        h.version = CSHM_VERSION
        h.creator_uid = geteuid()
        h.creator_pid = UInt32(bitPattern: getpid())
        h.pid_namespace = cshm_pid_namespace()
        // Robust mutexes need one pid namespace, and an opener must be able to tell (§ Trust).
        guard h.pid_namespace != 0 else {
            throw .system(operation: "stat(/proc/self/ns/pid) (the pid namespace)", name: name, errno: ENOENT)
        }

        let fd = cshm_tmpfile(directory)
        guard fd >= 0 else { throw .system(operation: "open(\(directory), O_TMPFILE)", name: name, errno: -fd) }
        defer { Glibc.close(fd) }
        // The umask may have narrowed 0600 but never widens it; fchmod makes it exact.
        guard fchmod(fd, 0o600) == 0 else { throw .system(operation: "fchmod", name: name, errno: errno) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .system(operation: "fstat", name: name, errno: errno) }
        guard ftruncate(fd, off_t(h.total_size)) == 0 else {
            throw .system(operation: "ftruncate(\(h.total_size))", name: name, errno: errno)
        }
        let size = Int(h.total_size)
        guard let raw = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), raw != MAP_FAILED else {
            throw .system(operation: "mmap(\(size))", name: name, errno: errno)
        }
        // ftruncate zero-filled the file: every counter, coach, channel and arena starts at 0.
        raw.assumingMemoryBound(to: cshm_header.self).pointee = h
        let header = raw.assumingMemoryBound(to: cshm_header.self)
        let rc = cshm_mutex_init(cshm_header_mutex(header))
        guard rc == 0 else {
            munmap(raw, size)
            throw .system(operation: "pthread_mutex_init (robust, process-shared)", name: name, errno: rc)
        }
        let slots = (raw + Int(h.off_slots)).assumingMemoryBound(to: cshm_slot.self)
        for i in 0..<Int(h.slots) {
            slots[i].coach = -1
            slots[i].channel = -1
        }
        SharedSegment._createHook?()
        cshm_atomic_store_u32_release(&header.pointee.initialised, 1)
        let linked = cshm_link(fd, directory + name)
        guard linked == 0 else {
            munmap(raw, size)
            if linked == -EEXIST { throw .alreadyExists(name: name) }
            throw .system(operation: "linkat(\(directory + name))", name: name, errno: -linked)
        }
        return SharedSegment(
            name: name, base: raw, size: size, fileID: (UInt64(st.st_dev), UInt64(st.st_ino)), header: h)
    }

    /// Opens the existing segment `name` and checks it: owner, mode, size, magic, version,
    /// layout, creator uid, pid namespace and the kind of its mutex. Opening does not take part in batches (a coordinator does), so
    /// a monitor may open a segment only to read ``counters`` and ``status()``.
    /// - Throws: ``SharedBatchError``: `.notFound`, `.foreignOwner`, `.insecureMode`,
    ///   `.truncated`, `.badMagic`, `.versionMismatch`, `.layoutMismatch`, `.otherPIDNamespace`,
    ///   or a failed system call.
    public static func open(name: String) throws(SharedBatchError) -> SharedSegment {
        try validate(name: name)
        let fd = cshm_open(name)
        if fd == -ENOENT { throw .notFound(name: name) }
        guard fd >= 0 else { throw .system(operation: "shm_open", name: name, errno: -fd) }
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .system(operation: "fstat", name: name, errno: errno) }
        guard st.st_uid == geteuid() else { throw .foreignOwner(name: name, owner: st.st_uid, me: geteuid()) }
        guard st.st_mode & 0o077 == 0 else { throw .insecureMode(name: name, mode: st.st_mode) }
        let size = Int(st.st_size)
        guard size >= MemoryLayout<cshm_header>.size else {
            throw .truncated(name: name, size: size, expected: MemoryLayout<cshm_header>.size)
        }
        guard let raw = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), raw != MAP_FAILED else {
            throw .system(operation: "mmap(\(size))", name: name, errno: errno)
        }
        let header: cshm_header
        do {
            header = try check(raw.assumingMemoryBound(to: cshm_header.self), size: size, owner: st.st_uid, name: name)
        } catch {
            munmap(raw, size)
            throw error
        }
        return SharedSegment(
            name: name, base: raw, size: size, fileID: (UInt64(st.st_dev), UInt64(st.st_ino)), header: header)
    }

    /// Opens `name` if it exists, creates it with `configuration` otherwise; race-free between
    /// processes that call it at once (exactly one creates, the others open what it published).
    /// - Throws: ``SharedBatchError``; `.configurationMismatch` when the existing segment has
    ///   other capacities.
    public static func openOrCreate(name: String, configuration: SharedBatchConfiguration) throws(SharedBatchError)
        -> SharedSegment
    {
        for _ in 0..<8 {
            let segment: SharedSegment
            do {
                segment = try open(name: name)
            } catch .notFound {
                do {
                    return try create(name: name, configuration: configuration)
                } catch .alreadyExists {
                    continue  // another process won the race: open what it published
                }
            }
            guard segment.configuration == configuration else {
                let c = segment.configuration
                throw .configurationMismatch(
                    name: name,
                    detail:
                        "it has coaches \(c.coaches), participants \(c.participants), processes \(c.processes), stateSize \(c.stateSize), arenaCapacity \(c.arenaCapacity), resultCapacity \(c.resultCapacity), livenessPeriod \(c.livenessPeriod)"
                )
            }
            return segment
        }
        throw .system(operation: "openOrCreate (the name kept appearing and disappearing)", name: name, errno: EAGAIN)
    }

    /// Removes the name `name`. Processes that have it open keep using it until they close it.
    /// Reads nothing of the segment: a corrupt one is removed as any other.
    /// - Throws: ``SharedBatchError/notFound(name:)``, or a failed `shm_unlink`.
    public static func unlink(name: String) throws(SharedBatchError) {
        try validate(name: name)
        let rc = cshm_unlink(name)
        if rc == -ENOENT { throw .notFound(name: name) }
        guard rc == 0 else { throw .system(operation: "shm_unlink", name: name, errno: -rc) }
    }
}

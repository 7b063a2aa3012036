#if canImport(Glibc)
    import Glibc
#endif

/// Why a shared-memory segment could not be created, opened or used.
///
/// Every case names the segment or the operation, and its description says what to do. Errors of
/// a batch itself (a crashed worker, an unknown outcome, an error thrown in another process) are
/// ``/Batch/BatchError`` cases, as in process.
public enum SharedBatchError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The name is not a valid segment name: one leading `/`, no other `/`, 2 to 255 bytes.
    case invalidName(String, reason: String)
    /// A capacity of ``SharedBatchConfiguration`` is out of range.
    case invalidConfiguration(String)
    /// No segment has this name.
    case notFound(name: String)
    /// `create` found a segment with this name already.
    case alreadyExists(name: String)
    /// A system call failed: which one, on which segment, and its `errno`.
    case system(operation: String, name: String, errno: Int32)
    /// The segment belongs to another user; only its owner may open it.
    case foreignOwner(name: String, owner: UInt32, me: UInt32)
    /// The segment is readable or writable by others than its owner (mode is not 0600).
    case insecureMode(name: String, mode: UInt32)
    /// The segment is shorter than its header says (or than a header).
    case truncated(name: String, size: Int, expected: Int)
    /// The segment does not start with the BatchIPC magic number: it is not a batch segment.
    case badMagic(name: String)
    /// The segment was made by another version of BatchIPC.
    case versionMismatch(name: String, found: UInt32, expected: UInt32)
    /// The segment's header contradicts itself or this build (sizes, offsets, capacities).
    case layoutMismatch(name: String, detail: String)
    /// The segment exists with other capacities than the ones asked for.
    case configurationMismatch(name: String, detail: String)
    /// The segment was created in another pid namespace: robust mutexes cannot work across them.
    case otherPIDNamespace(name: String)
    /// Every participant slot is taken: too many worker threads take part at once.
    case participantTableFull(capacity: Int)
    /// Every process entry is taken: too many processes are attached at once.
    case processTableFull(capacity: Int)
    /// The state value is larger than the segment's state region.
    case stateTooLarge(size: Int, capacity: Int)
    /// The record can never fit in the coach's arena.
    case recordTooLarge(size: Int, capacity: Int)
    /// The record does not fit in what is left of the coach's arena for this batch.
    case arenaFull(needed: Int, available: Int, capacity: Int)
    /// `Result` is larger than the segment's result capacity.
    case resultTooLarge(size: Int, capacity: Int)
    /// A ``SharedCoordinator`` needs a segment with one coach; this one has another count.
    case wrongCoachCount(name: String, coaches: Int)
    /// A value read from the segment is impossible (`field` says which, `detail` what it holds):
    /// another process wrote what this library never writes. The segment is unusable; this
    /// process stops using it (``SharedSegment/failure``).
    case corruptSegment(name: String, field: String, detail: String)
    /// The segment was closed in this process (``SharedSegment/close()``): nothing new starts on it.
    case closed(name: String)

    public var description: String {
        func unlink(_ name: String) -> String {
            "remove it with `batch-shm-demo unlink \(name)` (or SharedSegment.unlink(name:)) and create it again"
        }
        switch self {
        case .invalidName(let name, let reason):
            return "invalid segment name \"\(name)\": \(reason); use one leading '/' and no other, e.g. \"/my-batch\""
        case .invalidConfiguration(let what):
            return "invalid shared batch configuration: \(what)"
        case .notFound(let name):
            return "no shared batch segment named \(name): create it first (SharedSegment.create or openOrCreate)"
        case .alreadyExists(let name):
            return "a segment named \(name) exists already: open it, or \(unlink(name))"
        case .system(let op, let name, let e):
            return "\(op) failed for \(name): \(String(cString: strerror(e))) (errno \(e))"
        case .foreignOwner(let name, let owner, let me):
            return
                "segment \(name) belongs to uid \(owner), not to this user (uid \(me)): run as its owner, or use another name"
        case .insecureMode(let name, let mode):
            return
                "segment \(name) has mode \(String(mode & 0o777, radix: 8)), not 600: it may have been tampered with; \(unlink(name))"
        case .truncated(let name, let size, let expected):
            return "segment \(name) is truncated (\(size) bytes, expected \(expected)): \(unlink(name))"
        case .badMagic(let name):
            return
                "segment \(name) is not a swift-batch segment (wrong magic number): use another name, or \(unlink(name)) if it is stale"
        case .versionMismatch(let name, let found, let expected):
            return
                "segment \(name) has layout version \(found), this build uses \(expected): stop its users and \(unlink(name))"
        case .layoutMismatch(let name, let detail):
            return "segment \(name) has an inconsistent layout (\(detail)): \(unlink(name))"
        case .configurationMismatch(let name, let detail):
            return
                "segment \(name) exists with other capacities (\(detail)): open it with its own configuration, or stop its users and \(unlink(name))"
        case .otherPIDNamespace(let name):
            return
                "segment \(name) was created in another pid namespace: robust mutexes do not work across pid namespaces; run every process in one namespace"
        case .participantTableFull(let capacity):
            return
                "all \(capacity) participant slots are taken: create the segment with more participants, or use fewer worker threads"
        case .processTableFull(let capacity):
            return
                "all \(capacity) process entries are taken: create the segment with more processes, or attach fewer processes"
        case .stateTooLarge(let size, let capacity):
            return
                "state value of \(size) bytes does not fit the segment's state region of \(capacity) bytes: create the segment with a larger stateSize"
        case .recordTooLarge(let size, let capacity):
            return
                "record of \(size) bytes can never fit the arena of \(capacity) bytes: create the segment with a larger arenaCapacity"
        case .arenaFull(let needed, let available, let capacity):
            return
                "the batch's arena is full (\(needed) bytes needed, \(available) of \(capacity) left): trigger() the batch and retry the record in the next one"
        case .resultTooLarge(let size, let capacity):
            return
                "result type of \(size) bytes does not fit the segment's result capacity of \(capacity) bytes: create the segment with a larger resultCapacity"
        case .wrongCoachCount(let name, let coaches):
            return
                "segment \(name) has \(coaches) coaches; SharedCoordinator needs 1: use SharedMulti, or a segment created with coaches: 1"
        case .corruptSegment(let name, let field, let detail) where field == "found_corrupt":
            return "segment \(name) is corrupt (\(detail)): stop its users and \(unlink(name))"
        case .corruptSegment(let name, let field, let detail):
            return
                "segment \(name) is corrupt (\(field): \(detail)); no process of this library writes that: stop its users and \(unlink(name))"
        case .closed(let name):
            return "segment \(name) was closed in this process: open it again to take part"
        }
    }
}

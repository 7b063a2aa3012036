import Batch
import CBatchCore
import CShmSync

#if canImport(Glibc)
    import Glibc
#endif

// The layout of a mapping: the validation of a header read from the segment (never trusted: every
// size and offset is recomputed from the capacities and compared), and the regions of a validated
// mapping.

extension SharedSegment {
    /// Never trusts a size or offset read from the segment: recomputes the layout from the
    /// stored capacities and compares every field, then the mapping's size; then the creator's
    /// identity (the owner's uid, this pid namespace) and the kind of the mutex.
    /// - Returns: the header as validated: one copy, read once, which the segment then uses.
    static func check(
        _ header: UnsafeMutablePointer<cshm_header>, size: Int, owner: uid_t, name: String
    ) throws(SharedBatchError) -> cshm_header {
        let h = header.pointee
        guard h.magic == CSHM_MAGIC else { throw .badMagic(name: name) }
        guard h.version == CSHM_VERSION else {
            throw .versionMismatch(name: name, found: h.version, expected: CSHM_VERSION)
        }
        guard h.initialised == 1 else {
            throw .layoutMismatch(name: name, detail: "the initialised flag is not set")
        }
        var expect = cshm_header()
        expect.coaches = h.coaches
        expect.slots = h.slots
        expect.procs = h.procs
        expect.state_size = h.state_size
        expect.arena_capacity = h.arena_capacity
        expect.result_capacity = h.result_capacity
        guard cshm_layout(&expect) == 0 else {
            throw .layoutMismatch(
                name: name,
                detail: "capacities out of range (coaches \(h.coaches), participants \(h.slots), processes \(h.procs))")
        }
        let sizes: [(String, UInt32, UInt32)] = [
            ("header", h.size_header, expect.size_header), ("mutex", h.size_mutex, expect.size_mutex),
            ("core", h.size_core, expect.size_core), ("coach", h.size_coach, expect.size_coach),
            ("slot", h.size_slot, expect.size_slot), ("process entry", h.size_proc, expect.size_proc),
            ("result", h.size_result, expect.size_result), ("shadow", h.size_shadow, expect.size_shadow),
        ]
        for (what, found, want) in sizes where found != want {
            throw .layoutMismatch(name: name, detail: "size of \(what) is \(found), this build uses \(want)")
        }
        let offsets: [(String, UInt64, UInt64)] = [
            ("channels", h.off_channels, expect.off_channels), ("coaches", h.off_coaches, expect.off_coaches),
            ("results", h.off_results, expect.off_results), ("slots", h.off_slots, expect.off_slots),
            ("processes", h.off_procs, expect.off_procs), ("shadow", h.off_shadow, expect.off_shadow),
            ("state", h.off_state, expect.off_state), ("arena", h.off_arena, expect.off_arena),
            ("result stride", h.stride_result, expect.stride_result),
            ("state stride", h.stride_state, expect.stride_state),
            ("arena stride", h.stride_arena, expect.stride_arena),
            ("shadow stride", h.stride_shadow, expect.stride_shadow),
            ("total size", h.total_size, expect.total_size),
        ]
        for (what, found, want) in offsets where found != want {
            throw .layoutMismatch(
                name: name, detail: "\(what) is \(found), but the capacities in the header give \(want)")
        }
        guard UInt64(size) >= h.total_size else {
            throw .truncated(name: name, size: size, expected: Int(h.total_size))
        }
        guard UInt64(size) == h.total_size else {
            throw .layoutMismatch(name: name, detail: "the segment has \(size) bytes, its header says \(h.total_size)")
        }
        guard h.liveness_ns >= 1_000_000 && h.liveness_ns <= 10_000_000_000 else {
            throw .layoutMismatch(name: name, detail: "liveness period \(h.liveness_ns) ns is out of range")
        }
        // The creator's uid is the file's owner (checked against ours): a header that says
        // otherwise was not written by the creator of this file.
        guard h.creator_uid == owner else {
            throw .layoutMismatch(name: name, detail: "creator uid \(h.creator_uid) is not the owner's, \(owner)")
        }
        // Both namespaces known (create records it always; robust mutexes and the lock-owner
        // check need one namespace), and equal.
        let ns = cshm_pid_namespace()
        guard h.pid_namespace != 0 else {
            throw .layoutMismatch(name: name, detail: "its creator's pid namespace is 0 (unknown)")
        }
        guard ns != 0 else {
            throw .system(operation: "stat(/proc/self/ns/pid) (the pid namespace)", name: name, errno: ENOENT)
        }
        guard h.pid_namespace == ns else { throw .otherPIDNamespace(name: name) }
        guard cshm_mutex_kind_ok(cshm_header_mutex(header)) != 0 else {
            throw .corruptSegment(name: name, field: "mutex", detail: "its kind is not a robust mutex")
        }
        return h
    }

    // MARK: - Regions
    // Wrapping arithmetic: `c` is a coach index below the validated coach count, and offsets and
    // strides were validated at open against the mapping's size, so none of these can overflow.

    @inlinable func resultP(_ c: Int) -> UnsafeMutablePointer<cshm_result> {
        (base + (resultsOffset &+ c &* resultStride)).assumingMemoryBound(to: cshm_result.self)
    }
    @inlinable func resultBytes(_ c: Int) -> UnsafeMutableRawPointer {
        base + (resultsOffset &+ c &* resultStride &+ MemoryLayout<cshm_result>.size)
    }
    @inline(__always) func errorText(_ c: Int) -> UnsafeMutableRawPointer {
        resultBytes(c) + resultCapacity
    }
    @inlinable func stateP(_ c: Int) -> UnsafeMutableRawPointer { base + (stateOffset &+ c &* stateStride) }
    @inlinable func arenaUsedP(_ c: Int) -> UnsafeMutablePointer<UInt64> {
        (base + (arenaOffset &+ c &* arenaStride)).assumingMemoryBound(to: UInt64.self)
    }
    @inlinable func arenaBytes(_ c: Int) -> UnsafeMutableRawPointer { base + (arenaOffset &+ c &* arenaStride &+ 8) }
}

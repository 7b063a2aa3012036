import Batch
import CBatchCore

/// What a commit function reads: the closed batch's state and records. Valid only during the
/// commit function (nobody changes them meanwhile: the batch is closed).
///
/// Non-copyable, and lent to the commit function (`borrowing`): it cannot be stored or captured
/// beyond the call. The buffers it hands out (``state``, ``arena``, ``records``) are views into
/// the segment, valid during the call only, like any `withUnsafe…` buffer.
public struct SharedBatchContents: ~Copyable, @unchecked Sendable {
    // @unchecked: the segment is kept alive by the home that runs the commit function; the
    // pointers are read only while the batch is closed.
    /// The coach whose batch is committed.
    public let coach: Int
    /// The mapping; unowned: the commit function runs inside a call on the coordinator, which
    /// keeps it alive (and so no retain per commit).
    @usableFromInline unowned(unsafe) let segment: SharedSegment

    /// Cheap: the regions are computed when the commit function asks for them.
    @inlinable @inline(__always)
    init(segment: SharedSegment, coach: Int) {
        self.coach = coach
        self.segment = segment
    }

    /// The coach's state bytes (`stateSize` of them).
    public var state: UnsafeRawBufferPointer { UnsafeRawBufferPointer(mutableState) }
    /// The same bytes, writable: the commit function may keep values across batches in the
    /// state (e.g. a running total) — nobody else touches it while the batch is closed.
    public var mutableState: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: segment.stateP(coach), count: segment.stateSize)
    }
    /// The batch's records, framed: per record a `UInt32` length, 4 bytes of padding, the bytes,
    /// padding to 8. ``records`` iterates them; this is the whole region, e.g. for one `write`.
    public var arena: UnsafeRawBufferPointer {
        let used = min(Int(cbatch_atomic_load_u64(segment.arenaUsedP(coach))), segment.arenaCapacity)
        return UnsafeRawBufferPointer(start: segment.arenaBytes(coach), count: used)
    }

    static func frame(_ length: Int) -> Int { 8 + (length + 7) / 8 * 8 }

    /// The state as a `T` (which must fit the state region).
    public func load<T: BitwiseCopyable>(as type: T.Type) -> T {
        precondition(MemoryLayout<T>.size <= state.count, "state type larger than the segment's stateSize")
        return state.loadUnaligned(as: T.self)
    }

    /// Stores `value` at the start of the state (which it must fit).
    public func store<T: BitwiseCopyable>(_ value: T) {
        precondition(MemoryLayout<T>.size <= state.count, "state type larger than the segment's stateSize")
        mutableState.storeBytes(of: value, as: T.self)
    }

    /// The batch's records, in the order they were appended.
    public var records: [UnsafeRawBufferPointer] {
        let arena = self.arena
        var result: [UnsafeRawBufferPointer] = []
        var at = 0
        while at + 8 <= arena.count {
            let length = Int(arena.loadUnaligned(fromByteOffset: at, as: UInt32.self))
            guard at + 8 + length <= arena.count else { break }
            result.append(UnsafeRawBufferPointer(rebasing: arena[(at + 8)..<(at + 8 + length)]))
            at += Self.frame(length)
        }
        return result
    }
}

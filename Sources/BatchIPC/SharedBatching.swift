import Batch
import CShmSync

/// What ``SharedCoordinator`` and ``SharedMulti`` add to the common API: the coach's state bytes
/// and record arena in the segment.
///
/// Inside the critical section (between `enter` and `commit`, or in a `batch` closure) a worker
/// changes its coach's fixed-size state with `withState(_:coach:_:)` and appends
/// variable-size records with `append(_:coach:)`; the commit function reads both from its
/// ``SharedBatchContents``. The first worker of a batch (`index == 0`) resets the state; the
/// records of the previous batch are dropped automatically when a batch's first worker enters.
public protocol SharedBatching: _BatchCoordinating, _SegmentAccessing
where _Home == _SharedHome<Result>, Result: BitwiseCopyable {}

/// Not API: what every shared-memory coordinator's accessors need — the segment, and the calling
/// worker's token — so that they are written once (``SharedBatching``, ``AsyncSharedBatching``).
public protocol _SegmentAccessing {
    /// The segment this coordinator works in.
    var segment: SharedSegment { get }
    /// The calling worker's token (a thread's slot, or a task's seat); 0 for none.
    func _callerToken() -> UInt64
}

extension _SegmentAccessing {
    /// Gives `body` the coach's state as a `T`, in place. Only inside the calling worker's batch
    /// (between `enter()` and `commit()`/`cancel()`/`exit()`), on the coach it entered.
    /// - Throws: ``SharedBatchError/stateTooLarge(size:capacity:)``; what `body` throws;
    ///   ``SharedBatchError/corruptSegment(name:field:detail:)`` when the section's holder
    ///   fields were overwritten by another process.
    public func withState<T: BitwiseCopyable, R>(
        _ type: T.Type, coach: Int = 0, _ body: (inout T) throws -> R
    ) throws -> R {
        try segment.checkSection(_callerToken(), coach: coach, _SharedMisuse.withStateOutside)
        return try segment.withState(type, coach: coach, body)
    }

    /// Appends one record to the coach's arena for this batch. Only inside the critical section.
    /// - Throws: ``SharedBatchError/recordTooLarge(size:capacity:)`` when it can never fit,
    ///   ``SharedBatchError/arenaFull(needed:available:capacity:)`` when this batch has no room
    ///   left (trigger the batch and retry in the next one),
    ///   ``SharedBatchError/corruptSegment(name:field:detail:)`` when the arena's fill word is
    ///   beyond its capacity, or the section's holder fields were overwritten by another process
    ///   (the worker then leaves its batch at `exit`). Nothing is appended then.
    public func append(_ record: UnsafeRawBufferPointer, coach: Int = 0) throws(SharedBatchError) {
        try segment.checkSection(_callerToken(), coach: coach, _SharedMisuse.appendOutside)
        try segment.append(record, coach: coach)
    }

    /// Appends `bytes` as one record; see `append(_:coach:)`.
    public func append(bytes: some Collection<UInt8>, coach: Int = 0) throws(SharedBatchError) {
        try segment.checkSection(_callerToken(), coach: coach, _SharedMisuse.appendOutside)
        try segment.append(bytes: bytes, coach: coach)
    }

    /// Appends a `BitwiseCopyable` value as one record; see `append(_:coach:)`.
    public func append<T: BitwiseCopyable>(record: T, coach: Int = 0) throws(SharedBatchError) {
        try segment.checkSection(_callerToken(), coach: coach, _SharedMisuse.appendOutside)
        try segment.append(record: record, coach: coach)
    }
}

extension SharedBatching {
    /// The segment this coordinator works in.
    public var segment: SharedSegment { _engine.home.segment }
    public func _callerToken() -> UInt64 { _engine.home.threadToken() }

    /// `withState(_:coach:_:)` for the section's coach.
    public func withState<T: BitwiseCopyable, R>(
        _ type: T.Type, in section: borrowing BatchSection<Self>, _ body: (inout T) throws -> R
    ) throws -> R {
        try withState(type, coach: section.coach, body)
    }

    /// Appends a record to the section's coach; see `append(_:coach:)`.
    public func append<T: BitwiseCopyable>(record: T, in section: borrowing BatchSection<Self>) throws(SharedBatchError)
    {
        try append(record: record, coach: section.coach)
    }

    /// Appends `bytes` as a record to the section's coach; see `append(_:coach:)`.
    public func append(bytes: some Collection<UInt8>, in section: borrowing BatchSection<Self>) throws(SharedBatchError)
    {
        try append(bytes: bytes, coach: section.coach)
    }

    /// Gives the calling thread a participant slot now; see ``SharedSegment/reserveSlot()``.
    public func reserveSlot() throws(SharedBatchError) { try segment.reserveSlot() }
}

/// Misuse of the shared-memory accessors: one message each, for every coordinator.
enum _SharedMisuse {
    static let withStateOutside: StaticString =
        "withState outside the batch: call it between enter() and commit() on the coach entered"
    static let appendOutside: StaticString =
        "append outside the batch: call it between enter() and commit() on the coach entered"
}

// MARK: - The coach's state and arena, for every shared-memory coordinator.

extension SharedSegment {
    /// Traps with `what` unless the worker `me` holds the critical section, in `coach` — or
    /// throws the corrupt-segment error when the holder fields say otherwise but this process's
    /// own record of `me` says it does (the fields are another process's write; the worker
    /// leaves its batch when it exits), or this process's failure once it stopped using the
    /// segment.
    func checkSection(_ me: UInt64, coach: Int, _ what: StaticString) throws(SharedBatchError) {
        // The range first: the holder fields are the segment's words, the coach indexes the mapping.
        if coach >= 0 && coach < coachCount && me != 0 && cbatch_atomic_load_u64(&coreP.pointee.holder) == me
            && Int(coreP.pointee.holder_coach) == coach
        {
            return
        }
        throw checkSectionFailed(me, coach: coach, what)
    }

    /// The cold path of ``checkSection(_:coach:_:)``: the engine's rule (``_OwnRecord/holdsSection(of:outcomeKeepsSection:)``)
    /// without leaving the batch — the worker's `exit` does that.
    @inline(never)
    func checkSectionFailed(_ me: UInt64, coach: Int, _ what: StaticString) -> SharedBatchError {
        if ownRecord(token: me).holdsSection(of: coach, outcomeKeepsSection: false) {
            return holderFieldsFalse(
                field: "core holder",
                detail: "does not name worker \(me) of this process, which holds the section of coach \(coach)")
        }
        if let failure { return failure }
        preconditionFailure(what.description)
    }

    /// By the section's holder: `body` with the coach's state as a `T`, in place.
    func withState<T: BitwiseCopyable, R>(_ type: T.Type, coach: Int, _ body: (inout T) throws -> R) throws -> R {
        guard MemoryLayout<T>.size <= configuration.stateSize else {
            throw SharedBatchError.stateTooLarge(size: MemoryLayout<T>.size, capacity: configuration.stateSize)
        }
        let p = stateP(coach)
        var value = p.loadUnaligned(as: T.self)
        defer { withUnsafeBytes(of: value) { p.copyMemory(from: $0.baseAddress!, byteCount: MemoryLayout<T>.size) } }
        return try body(&value)
    }

    /// By the section's holder (or a batcher's submitter under the lock): appends one framed
    /// record to the coach's arena.
    func append(_ record: UnsafeRawBufferPointer, coach: Int) throws(SharedBatchError) {
        let capacity = configuration.arenaCapacity
        let needed = SharedBatchContents.frame(record.count)
        guard needed <= capacity else { throw .recordTooLarge(size: record.count, capacity: capacity) }
        let usedWord = cbatch_atomic_load_u64(arenaUsedP(coach))
        guard usedWord <= UInt64(capacity) else {
            throw .corruptSegment(
                name: name, field: "arena of coach \(coach) used", detail: "\(usedWord) bytes of \(capacity)")
        }
        let used = Int(usedWord)
        guard used + needed <= capacity else {
            throw .arenaFull(needed: needed, available: capacity - used, capacity: capacity)
        }
        let at = arenaBytes(coach) + used
        at.storeBytes(of: UInt32(record.count), as: UInt32.self)
        at.storeBytes(of: UInt32(0), toByteOffset: 4, as: UInt32.self)
        if record.count > 0 { (at + 8).copyMemory(from: record.baseAddress!, byteCount: record.count) }
        cbatch_atomic_store_u64(arenaUsedP(coach), UInt64(used + needed))
    }

    /// The bytes of the coach's arena in use, at most its capacity + 1 (a fill word beyond the
    /// capacity — only another process can write it — counts as full).
    func arenaUsed(_ coach: Int) -> Int {
        Int(min(cbatch_atomic_load_u64(arenaUsedP(coach)), UInt64(configuration.arenaCapacity) + 1))
    }

    func append(bytes: some Collection<UInt8>, coach: Int) throws(SharedBatchError) {
        let result: Swift.Result<Void, SharedBatchError> =
            bytes.withContiguousStorageIfAvailable { raw in
                Swift.Result { () throws(SharedBatchError) in try append(UnsafeRawBufferPointer(raw), coach: coach) }
            }
            ?? Array(bytes).withUnsafeBytes { raw in
                Swift.Result { () throws(SharedBatchError) in try append(raw, coach: coach) }
            }
        try result.get()
    }

    func append<T: BitwiseCopyable>(record: T, coach: Int) throws(SharedBatchError) {
        let result: Swift.Result<Void, SharedBatchError> = withUnsafeBytes(of: record) { raw in
            Swift.Result { () throws(SharedBatchError) in try append(raw, coach: coach) }
        }
        try result.get()
    }
}

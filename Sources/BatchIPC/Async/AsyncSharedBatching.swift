import Batch

/// What ``AsyncSharedCoordinator`` and ``AsyncSharedMulti`` add to the async API: the coach's
/// state bytes and record arena in the segment — the same accessors as ``SharedBatching``, for
/// a task inside the batch (between `enter` and `commit`, or in a `batch` closure).
public protocol AsyncSharedBatching: _AsyncBatchCoordinating
where _Home == _AsyncSharedHome<Result>, Result: BitwiseCopyable {}

extension AsyncSharedBatching {
    /// The segment this coordinator works in.
    public var segment: SharedSegment { _engine.home.segment }

    /// Gives `body` the coach's state as a `T`, in place. Only inside the calling task's batch,
    /// on the coach it entered.
    /// - Throws: ``SharedBatchError/stateTooLarge(size:capacity:)``; what `body` throws.
    public func withState<T: BitwiseCopyable, R>(
        _ type: T.Type, coach: Int = 0, _ body: (inout T) throws -> R
    ) throws -> R {
        segment.checkSection(_engine.home.threadToken(), coach: coach, _SharedMisuse.withStateOutside)
        return try segment.withState(type, coach: coach, body)
    }

    /// ``withState(_:coach:_:)`` for the section's coach.
    public func withState<T: BitwiseCopyable, R>(
        _ type: T.Type, in section: borrowing AsyncBatchSection<Self>, _ body: (inout T) throws -> R
    ) throws -> R {
        try withState(type, coach: section.coach, body)
    }

    /// Appends one record to the coach's arena for this batch; see
    /// ``SharedBatching/append(_:coach:)``.
    public func append(_ record: UnsafeRawBufferPointer, coach: Int = 0) throws(SharedBatchError) {
        segment.checkSection(_engine.home.threadToken(), coach: coach, _SharedMisuse.appendOutside)
        try segment.append(record, coach: coach)
    }

    /// Appends `bytes` as one record; see ``SharedBatching/append(_:coach:)``.
    public func append(bytes: some Collection<UInt8>, coach: Int = 0) throws(SharedBatchError) {
        segment.checkSection(_engine.home.threadToken(), coach: coach, _SharedMisuse.appendOutside)
        try segment.append(bytes: bytes, coach: coach)
    }

    /// Appends a `BitwiseCopyable` value as one record; see ``SharedBatching/append(_:coach:)``.
    public func append<T: BitwiseCopyable>(record: T, coach: Int = 0) throws(SharedBatchError) {
        segment.checkSection(_engine.home.threadToken(), coach: coach, _SharedMisuse.appendOutside)
        try segment.append(record: record, coach: coach)
    }

    /// Appends a record to the section's coach.
    public func append<T: BitwiseCopyable>(record: T, in section: borrowing AsyncBatchSection<Self>)
        throws(SharedBatchError)
    {
        try append(record: record, coach: section.coach)
    }

    /// Appends `bytes` as a record to the section's coach.
    public func append(bytes: some Collection<UInt8>, in section: borrowing AsyncBatchSection<Self>)
        throws(SharedBatchError)
    {
        try append(bytes: bytes, coach: section.coach)
    }
}

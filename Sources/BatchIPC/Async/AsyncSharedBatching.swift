import Batch

/// What ``AsyncSharedCoordinator`` and ``AsyncSharedMulti`` add to the async API: the coach's
/// state bytes and record arena in the segment — the same accessors as ``SharedBatching``, for
/// a task inside the batch (between `enter` and `commit`, or in a `batch` closure).
public protocol AsyncSharedBatching: _AsyncBatchCoordinating, _SegmentAccessing
where _Home == _AsyncSharedHome<Result>, Result: BitwiseCopyable {}

extension AsyncSharedBatching {
    /// The segment this coordinator works in.
    public var segment: SharedSegment { _engine.home.segment }
    public func _callerToken() -> UInt64 { _engine.home.threadToken() }

    /// `withState(_:coach:_:)` for the section's coach.
    public func withState<T: BitwiseCopyable, R>(
        _ type: T.Type, in section: borrowing AsyncBatchSection<Self>, _ body: (inout T) throws -> R
    ) throws -> R {
        try withState(type, coach: section.coach, body)
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

// The fixed numbers of a segment that users and tools need: the ranges of its capacities
// (`SharedBatchConfiguration.validate()` checks them; batch-shm-demo derives its options' ranges
// from them) and the magic number that marks a BatchIPC segment.

import CShmSync

extension SharedBatchConfiguration {
    /// The range of ``coaches``: batches in flight at once.
    public static let coachLimit: ClosedRange<Int> = 1...Int(CSHM_MAX_COACHES)
    /// The range of ``participants``: worker threads of all processes taking part at once.
    public static let participantLimit: ClosedRange<Int> = 1...Int(CSHM_MAX_SLOTS)
    /// The range of ``processes``: processes attached at once.
    public static let processLimit: ClosedRange<Int> = 1...Int(CSHM_MAX_SLOTS)
    /// The range of ``stateSize``, ``arenaCapacity`` and ``resultCapacity``, in bytes (4 GiB at most).
    public static let byteLimit: ClosedRange<Int> = 0...Int(CSHM_MAX_BYTES)
    /// The range of ``livenessPeriod``: 1 ms to 10 s. Shorter wastes CPU on wake-ups; longer
    /// leaves the survivors of a crash waiting that long before they find out.
    public static let livenessLimit: ClosedRange<Duration> = .milliseconds(1) ... .seconds(10)
}

extension SharedSegment {
    /// The first 8 bytes of every segment, read as a little-endian `UInt64` (the bytes
    /// `swbatch1`): how a tool tells a BatchIPC segment from other files in `/dev/shm` without
    /// opening it. ``open(name:)`` still checks everything else.
    public static let magic: UInt64 = CSHM_MAGIC
}

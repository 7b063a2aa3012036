/// The capacities of a shared-memory segment, fixed when it is created.
///
/// Every process that opens the segment uses the capacities stored in it; `openOrCreate` refuses
/// a segment whose capacities differ from the ones asked for.
public struct SharedBatchConfiguration: Sendable, Equatable {
    /// Batches that may be in flight at once (1 for ``SharedCoordinator``). 1...1024.
    public var coaches: Int
    /// Participant slots: worker threads (of all processes together) taking part at once. 1...1024.
    public var participants: Int
    /// Process entries: processes attached at once. 1...1024. Defaults to `participants`.
    public var processes: Int
    /// Bytes of the fixed-size user state of each coach (a `BitwiseCopyable` value). 0...4 GiB.
    public var stateSize: Int
    /// Bytes of the record arena of each coach (variable-size records of one batch). 0...4 GiB.
    /// Default 64 KiB: enough for a few hundred small records per batch. A record takes its
    /// length plus 8, rounded up to 8. When a batch's arena is full, `append` throws `arenaFull`
    /// (trigger the batch and add the record to the next one); the batchers do that for you.
    public var arenaCapacity: Int
    /// Bytes of the result of a batch (the size of `Result`, at most). 0...4 GiB.
    public var resultCapacity: Int
    /// How long a waiter sleeps at most before it looks for dead participants.
    public var livenessPeriod: Duration

    /// A configuration; every argument has a default suited to tests and small demos.
    public init(
        coaches: Int = 1, participants: Int = 64, processes: Int? = nil, stateSize: Int = 64,
        arenaCapacity: Int = 64 << 10, resultCapacity: Int = 64, livenessPeriod: Duration = .milliseconds(20)
    ) {
        self.coaches = coaches
        self.participants = participants
        self.processes = processes ?? participants
        self.stateSize = stateSize
        self.arenaCapacity = arenaCapacity
        self.resultCapacity = resultCapacity
        self.livenessPeriod = livenessPeriod
    }

    var livenessNanoseconds: Int64 { livenessPeriod.saturatingNanoseconds }

    func validate() throws(SharedBatchError) {
        func check(_ ok: Bool, _ what: String) throws(SharedBatchError) {
            if !ok { throw .invalidConfiguration(what) }
        }
        try check(Self.coachLimit.contains(coaches), "coaches must be \(Self.coachLimit) (got \(coaches))")
        try check(
            Self.participantLimit.contains(participants),
            "participants must be \(Self.participantLimit) (got \(participants))")
        try check(Self.processLimit.contains(processes), "processes must be \(Self.processLimit) (got \(processes))")
        try check(Self.byteLimit.contains(stateSize), "stateSize must be 0...4 GiB (got \(stateSize))")
        try check(Self.byteLimit.contains(arenaCapacity), "arenaCapacity must be 0...4 GiB (got \(arenaCapacity))")
        try check(Self.byteLimit.contains(resultCapacity), "resultCapacity must be 0...4 GiB (got \(resultCapacity))")
        try check(
            Self.livenessLimit.contains(livenessPeriod), "livenessPeriod must be 1 ms...10 s (got \(livenessPeriod))")
    }
}

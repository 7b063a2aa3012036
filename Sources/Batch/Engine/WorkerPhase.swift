/// What a worker is doing in a batch, as far as crash recovery and monitoring care.
///
/// The engine records it at every step (the shared-memory home keeps it in each participant's
/// slot, so that the crash table can tell what a dead worker left behind, and
/// `SharedSegment.status()` shows it); the homes of this process do not record it. The raw
/// values are part of the shared-memory layout: they never change.
public enum WorkerPhase: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    /// Not taking part.
    case idle = 0
    /// Announced (`queueIn`), or waiting to enter: counts as coming.
    case queued = 1
    /// Inside a filling batch, holding the critical section, before its outcome.
    case entered = 2
    /// Inside a filling batch, asleep in commit or cancel: its data is in the batch.
    case waiting = 3
    /// Running the commit function of its batch, until the outcome is published.
    case committing = 4
    /// Has the outcome of its batch; only `exit()` remains.
    case done = 5

    public var description: String {
        switch self {
        case .idle: "idle"
        case .queued: "queued"
        case .entered: "entered"
        case .waiting: "waiting"
        case .committing: "committing"
        case .done: "done"
        }
    }
}

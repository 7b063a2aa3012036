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

extension WorkerPhase {
    /// Inside a batch (entered, not exited): counted in its coach's `count`.
    @inlinable
    public var isInBatch: Bool {
        switch self {
        case .idle, .queued: false
        case .entered, .waiting, .committing, .done: true
        }
    }
}

/// Not API: what a home knows of one of its workers apart from the section's holder fields,
/// which another process can write (``_WorkerHome/ownRecord(of:)``).
public struct _OwnRecord: Sendable {
    /// The phase the worker last noted.
    public var phase: WorkerPhase
    /// The coach of that phase (-1 when none).
    public var coach: Int
    /// Whether it holds the home's lock for its whole section (it entered where the section is
    /// the lock).
    public var keepsLock: Bool

    @inlinable
    public init(phase: WorkerPhase, coach: Int, keepsLock: Bool) {
        self.phase = phase
        self.coach = coach
        self.keepsLock = keepsLock
    }

    /// Whether, by this record, the worker holds the critical section of `coach`: inside a
    /// batch of it before its outcome (`entered`), or with its outcome where the outcome keeps
    /// the section until `exit` (`done`, with `outcomeKeepsSection`: a blocking worker always;
    /// an async one only when it did not take the outcome released).
    @inlinable
    public func holdsSection(of c: Int, outcomeKeepsSection: Bool) -> Bool {
        coach == c && (phase == .entered || (phase == .done && outcomeKeepsSection))
    }
}

import CBatchCore

/// The batching algorithm (docs/DESIGN.md, "The protocol"), written once for every home.
///
/// Not API: public (underscored) only so that the package's modules can inline it; use
/// ``Coordinator`` and ``Multi`` (or their async and shared-memory twins).
///
/// The algorithm is a set of *steps* that run under the home's lock and say what to do next
/// (`Steps.swift`), named *predicates* on a coach (`Predicates.swift`), the bookkeeping of the
/// worker that holds the critical section (`HolderState.swift`), the crash table's step for a
/// participant that died (`ParticipantDied.swift`), and two *drivers* that loop over the steps:
/// the blocking one (`Blocking/BlockingDriver.swift`, sleeping with ``_BlockingHome/wait(_:)``)
/// and the async one (`Async/AsyncDriver.swift`, suspending with continuations).
///
/// State (all in ``cbatch_core`` and ``cbatch_coach``; see `CBatchCore.h` for each field's
/// invariant): `queue` counts workers coming; each coach has `count` (>= 0 filling, < 0 closed
/// with -count still inside), `triggered`, `ready`. The critical section is held from `enter`
/// to `exit`, except while the holder waits in `commit` or runs the commit function.
@frozen
public struct _BatchEngine<Home: _BatchState>: Sendable {
    /// Where the state lives. Immutable.
    public let home: Home
    /// How workers wait for each other (`WaitPolicy.swift`). Immutable.
    public let policy: _WaitPolicy

    @inlinable
    public init(home: Home, waiting: _WaitPolicy) {
        self.home = home
        self.policy = waiting
    }

    /// Channel of workers waiting to enter a coach.
    @inlinable public static var enterChannel: Int { 0 }
    /// Channel of workers waiting in commit on `coach`.
    @inlinable public static func commitChannel(_ coach: Int) -> Int { 1 + coach }
    /// Channel of workers waiting for the critical section while a worker of another kind holds
    /// it: a blocking worker of a shared-memory home, while an async task of another process
    /// holds the section without the segment's mutex (or the other way round). The last channel.
    @inlinable public var sectionChannel: Int { 1 + home.coachCount }
    /// How many wait channels a home with `coaches` coaches has: enter, one per coach, section.
    @inlinable public static func channelCount(coaches: Int) -> Int { 2 + coaches }

    @inlinable var core: UnsafeMutablePointer<cbatch_core> { home.core }
    @inlinable func coach(_ c: Int) -> UnsafeMutablePointer<cbatch_coach> { home.coaches + c }
    /// The number of coaches, at least 1.
    @inlinable public var coachCount: Int { home.coachCount }
}

import CBatchCore

/// How the workers of a coordinator wait for each other.
///
/// Batching pays only when the commits it saves cost more than the waiting it adds. A futex
/// sleep and wake-up costs 5–25 µs on a typical server; a commit may cost 50 ns or 50 ms. The
/// default, ``adaptive``, therefore measures what a commit costs (per coordinator, a sample per
/// batch, not per operation) and:
///
/// - waits for announced workers (who called `queueIn()` and have not entered yet) at most
///   about one commit's cost, then commits with whoever is in — a commit that costs nothing
///   never waits; waiting longer than a commit costs can only lose (the ski-rental argument:
///   this rule is never worse than twice the better choice);
/// - when a batch would commit with fewer workers than the previous batch had, and nobody is
///   announced, waits up to the same bound for the workers just served to come back;
/// - yields the CPU instead of sleeping when what it waits for is expected within
///   ``yieldBudget`` (a short commit running, announced workers on their way), and sleeps at once
///   when it is not (a long commit).
///
/// ``strict`` is the rule of the [Go original](https://github.com/nikandfor/batch): a worker that
/// may commit waits for every announced worker, however long. It makes the biggest batches at
/// any latency.
///
/// No timer ever starts a batch: the bounds apply only to waits for workers that announced
/// themselves (or, for a batch smaller than the previous one, that were in the previous batch).
public struct BatchWaiting: Sendable, Hashable, CustomStringConvertible {
    /// Whether a worker that may commit bounds its wait for announced workers.
    public enum Rule: Sendable, Hashable {
        /// Wait at most about one commit's cost (measured, or assumed).
        case adaptive
        /// Wait for every announced worker, however long (the Go original's rule).
        case strict
    }

    /// The rule for waiting for announced workers.
    public var rule: Rule
    /// A fixed estimate of what one commit costs, used instead of measuring; `nil` (the
    /// default) measures it. For tests, or when the cost is known better than a sample shows.
    public var assumedCommitCost: Duration?
    /// How long a blocked thread may yield the CPU before it sleeps, when what it waits for is
    /// expected within that time. `.zero`: always sleep at once (less CPU, more wake-ups).
    /// Default 1 ms. It also bounds the wait for just-served peers (`.zero`: no such wait).
    /// Async workers never block a thread: for them it is only that bound (they suspend, and
    /// a task of a shared-memory coordinator does not look at `SharedSegment.yieldBudget`); a
    /// blocking shared-memory coordinator also respects `SharedSegment.yieldBudget`.
    public var yieldBudget: Duration

    /// Measures the commit, bounds waits by its cost, yields for up to 1 ms when the wake is near.
    public static let adaptive = BatchWaiting(rule: .adaptive)
    /// The Go original's rule: wait for every announced worker.
    public static let strict = BatchWaiting(rule: .strict)

    /// A policy; see the properties.
    public init(rule: Rule = .adaptive, assumedCommitCost: Duration? = nil, yieldBudget: Duration = .milliseconds(1)) {
        self.rule = rule
        self.assumedCommitCost = assumedCommitCost
        self.yieldBudget = yieldBudget
    }

    public var description: String {
        var text = rule == .adaptive ? "adaptive" : "strict"
        if let assumedCommitCost { text += ", commit assumed to cost \(assumedCommitCost)" }
        return text + ", yield budget \(yieldBudget)"
    }
}

/// Not API: ``BatchWaiting`` in the form the engine reads on its hot path.
@frozen
public struct _WaitPolicy: Sendable {
    /// The Go original's rule.
    public let strict: Bool
    /// A fixed commit cost in ns, or -1: measured.
    public let assumedNanos: Int64
    /// The yield budget in ns (0: always sleep at once).
    public let yieldBudgetNanos: Int64
    /// Commits one at a time, in the order the batches close: a batch that may commit waits
    /// while another coach's batch commits, and keeps filling meanwhile. For a pipeline of
    /// coaches whose state the library owns (the batchers: the next batch fills while the
    /// current one commits), not for ``Multi``, whose coaches commit in parallel.
    public let serialCommits: Bool

    public init(_ waiting: BatchWaiting, serialCommits: Bool = false) {
        strict = waiting.rule == .strict
        assumedNanos = waiting.assumedCommitCost.map { max(0, $0.saturatingNanoseconds) } ?? -1
        yieldBudgetNanos = max(0, waiting.yieldBudget.saturatingNanoseconds)
        self.serialCommits = serialCommits
    }
}

extension _WaitPolicy {
    /// How long (ns) a task that finds the async critical section taken by a running task, with
    /// no task parked for it, spins before it parks. Parking costs a resume that often wakes a
    /// sleeping pool thread (a futex wake and a context switch, 5–25 µs here), while a section
    /// whose step or body does not suspend is held for a microsecond or less: spinning for less
    /// than parking costs is never worse than twice the better choice, the waiting rule's
    /// argument. (With tasks parked, the section is freed at its release and the first of them
    /// woken, or handed it: a newcomer then parks too; measured, spinning then as well made
    /// the 8-task, no-commit cell slower, 0.98 → 0.67 of the actor batcher.)
    @inlinable public static var sectionSpinNanos: Int64 { 2_000 }

    /// How long (ns) a task may wait for the async critical section before a release hands it
    /// the section outright, rather than freeing it for whichever task comes first: the bound on
    /// how long running tasks may overtake a parked one.
    @inlinable public static var sectionHandOffNanos: Int64 { 10_000_000 }

    /// What a release of the async critical section does when tasks are parked waiting for it.
    @frozen public enum SectionRelease: Equatable, Sendable {
        /// Hand it to the first parked task: it owns the section before it runs.
        case handOver
        /// Free it, and wake the first parked task to try for it (a running task may take it
        /// first; the woken one then parks first in line again).
        case freeAndWake
        /// Free it and wake nobody: a woken task has not tried yet.
        case free
        /// Keep it for the woken task that has not tried yet: it has waited the bound.
        case keepForWoken
    }

    /// The release rule of the async critical section, given how long (ns) the first parked
    /// task has waited for it (`nil`: none is parked), whether that task was woken on a channel
    /// (what it waited for changed), how many tasks woken to try for the section have not tried
    /// yet, and how long the one woken has waited.
    ///
    /// A task woken on a channel is handed the section: it decides anew before any task that
    /// merely came for the section, as the waiting policy expects (the committer woken when its
    /// predecessor's commit ends decides before the workers that commit served come back). A
    /// task that merely came for it is not: handing the section over at every release makes a
    /// convoy — a parked task runs only once its resume reached a pool thread, often a sleeping
    /// one (5–25 µs here), the section stays unused meanwhile while running tasks queue up
    /// behind it, and every operation pays a wake (measured: 8 tasks with no commit made 0.3×
    /// the operations of a hand-written actor batcher). Freed, the section goes to whichever
    /// task comes first, with one wake in flight at a time, as in a futex mutex; running tasks
    /// may overtake a parked one for ``sectionHandOffNanos``, then it is handed the section —
    /// or, when the one that waited so long was woken and has not tried yet, the section is kept
    /// for it (tasks that never suspend could keep it from running while it is in no queue).
    @inlinable
    public static func sectionRelease(
        firstWaited: Int64?, firstWasWoken: Bool, woken: Int, wokenWaited: Int64 = 0
    ) -> SectionRelease {
        if woken > 0 && wokenWaited >= sectionHandOffNanos { return .keepForWoken }
        guard let firstWaited else { return .free }
        if firstWasWoken || firstWaited >= sectionHandOffNanos { return .handOver }
        return woken > 0 ? .free : .freeAndWake
    }

    /// The commit estimate after a commit timed at `sample` ns, from `old` (0: nothing measured
    /// yet; both clamped to 1...`longest`, a segment's value being input from other processes).
    ///
    /// The first sample is taken as it is. Then the estimate goes half way down to a lower
    /// sample, and a quarter of the way up to a higher one, by at most a quarter of itself (or
    /// 250 ns, so that a tiny estimate can grow). A commit timed across a preemption or an
    /// interrupt reads many times its cost — with more runnable threads than CPUs, a worker the
    /// committer woke often preempts it (measured: at 8 threads on 2 CPUs, 1 sample in 300 of a
    /// 40 ns commit read 15–100 µs; at 32 threads, half the samples of a 5 µs commit read
    /// 20–200 µs) — and one such sample must not make a cheap commit look worth waiting for. A
    /// real rise shows in every sample: it doubles the estimate in four samples, tenfold in
    /// eleven.
    @inlinable
    public static func nextCommitEstimate(_ old: Int64, sample: Int64, longest: Int64) -> Int64 {
        let sample = min(max(1, sample), longest)
        let old = min(max(0, old), longest)
        if old == 0 { return sample }
        if sample <= old { return old - (old - sample) / 2 }
        return old + min(sample - old, max(old, 1_000)) / 4
    }
}

/// Not API: a wait the policy planned for a blocked worker.
@frozen
public struct _Wait: Sendable {
    /// The channel to wait on (0: to enter; 1 + c: in commit on coach c).
    public var channel: Int
    /// Yield the CPU (not sleep) until this monotonic time in ns, unless woken first; 0: sleep at
    /// once.
    public var yieldUntil: Int64
    /// Run the step again at this monotonic time in ns even if nobody wakes the worker;
    /// `Int64.max`: only when woken.
    public var deadline: Int64
    /// Also stop waiting as soon as a worker announces itself (a worker waiting for a peer:
    /// nobody wakes it then).
    public var untilAnnounced: Bool

    @inlinable
    public init(channel: Int, yieldUntil: Int64, deadline: Int64 = .max, untilAnnounced: Bool = false) {
        self.channel = channel
        self.yieldUntil = yieldUntil
        self.deadline = deadline
        self.untilAnnounced = untilAnnounced
    }
}

/// Not API: what a worker in `commit` has waited so far; one per call of `commit`.
@frozen
public struct _Patience: Sendable {
    /// When it first waited for announced workers or a peer (monotonic ns), 0: not yet.
    @usableFromInline var since: Int64 = 0
    /// It waited for a just-served peer and none came: it does not wait for one again.
    @usableFromInline var peerWaited = false

    @inlinable public init() {}
}

extension Duration {
    /// Whole nanoseconds, saturated at `Int64.min` / `Int64.max` (a duration of centuries is out
    /// of every range here, not a trap).
    package var saturatingNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (sum, overflow2) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflow || overflow2 ? (seconds < 0 ? .min : .max) : sum
    }
}

// MARK: - The decisions

extension _BatchEngine {
    /// The longest a commit is believed to take: 10 s. A measured value is clamped to it (a
    /// segment's value is input from other processes).
    @inlinable static var longestCommit: Int64 { 10_000_000_000 }
    /// Slack added to an expected wait (a few scheduling steps of other workers).
    @inlinable static var waitSlack: Int64 { 5_000 }
    /// A commit expected to cost at most this (ns) is run without releasing the lock, by a
    /// driver that can: releasing and re-taking a contended lock around it would cost more than
    /// the commit, and nobody could enter the closed batch meanwhile anyway.
    @inlinable static var inPlaceLimit: Int64 { 2_000 }

    /// What one commit is expected to cost, ns: assumed, or measured; 0 before the first sample
    /// (a measured commit counts at least 1 ns).
    @inlinable
    public var commitEstimate: Int64 {
        if policy.assumedNanos >= 0 { return policy.assumedNanos }
        return min(max(0, home.policyState.pointee.commit_ns), Self.longestCommit)
    }

    /// Whether a commit is expected to cost less than handing the lock over (``inPlaceLimit``):
    /// assumed so, or measured so (nothing measured yet: no).
    @inlinable
    var commitsInPlace: Bool {
        let estimate = commitEstimate
        return estimate <= Self.inPlaceLimit && (estimate > 0 || policy.assumedNanos >= 0)
    }

    /// Under the lock: the caller closes a filling batch to commit it. Returns whether to time
    /// the commit function: when nothing is measured yet, always when others took part in the
    /// batch (their waits depend on the estimate), every 8th time for a lone commit while others
    /// are announced, every 64th time for a lone, uncontended one (reading the clock twice costs
    /// about as much as the rest of such an op), never with an assumed cost.
    @inlinable @inline(__always)
    func closeForCommit(_ c: Int, contended: Bool) -> Bool {
        let co = coach(c)
        let workers = co.pointee.count
        co.pointee.count = -workers
        let state = home.policyState
        state.pointee.last_batch = Int32(truncatingIfNeeded: workers)
        if policy.assumedNanos >= 0 { return false }
        if workers > 1 || state.pointee.unmeasured >= (contended ? 7 : 63) || state.pointee.commit_ns <= 0 {
            state.pointee.unmeasured = 0
            return true
        }
        state.pointee.unmeasured &+= 1
        return false
    }

    /// Under the lock: a timed commit function took `nanos`.
    @inlinable
    func recordCommit(nanos: Int64) {
        let state = home.policyState
        state.pointee.commit_ns = _WaitPolicy.nextCommitEstimate(
            state.pointee.commit_ns, sample: nanos, longest: Self.longestCommit)
    }

    /// The cap on yielding that async drivers pass: none. A task never blocks its thread — it
    /// suspends — so the plans' yield times go unused; the cap then leaves only the yield budget
    /// to bound a task's wait for just-served peers (it suspends until its deadline, or until
    /// the peers that came back commit the batch with it).
    @inlinable public static var taskYieldCap: Int64 { .max }

    /// Until when a blocked worker yields rather than sleeps, when what it waits for is expected
    /// within `expected` ns: within the yield budget; 0 (sleep at once) otherwise.
    @inlinable
    func yieldUntil(now: Int64, expected: Int64, cap: Int64) -> Int64 {
        let budget = min(policy.yieldBudgetNanos, cap)
        guard budget > 0, expected <= budget else { return 0 }
        return now + min(budget, expected + Self.waitSlack)
    }
}

extension _BatchEngine where Home: _WorkerHome {
    /// Under the lock: the wait of a worker whose batch is closed and being committed by
    /// another: yield through a commit expected to end within the budget, else sleep.
    @inlinable
    func waitForCommitter(_ c: Int, cap: Int64) -> _Wait {
        let now = cbatch_now_ns()
        return _Wait(
            channel: Self.commitChannel(c), yieldUntil: yieldUntil(now: now, expected: commitEstimate * 3 / 2, cap: cap)
        )
    }

    /// Under the lock: the wait of a worker that may commit while announced workers are coming,
    /// or `nil` to commit now. Adaptive: at most one commit's cost (ski rental) since it first
    /// waited — until the first commit is measured, as long as it takes; strict: until they are
    /// in.
    @inlinable
    func waitForAnnounced(_ c: Int, _ patience: inout _Patience, cap: Int64) -> _Wait? {
        let estimate = commitEstimate
        let now = cbatch_now_ns()
        if patience.since == 0 { patience.since = now }
        if policy.strict || (estimate == 0 && policy.assumedNanos < 0) {
            return _Wait(
                channel: Self.commitChannel(c),
                yieldUntil: yieldUntil(now: now, expected: max(estimate, 20_000), cap: cap))
        }
        // A wait costs at least handing the lock over: a commit cheaper than that never waits.
        let deadline = patience.since &+ estimate
        if estimate <= Self.inPlaceLimit || now >= deadline { return nil }
        return _Wait(
            channel: Self.commitChannel(c), yieldUntil: yieldUntil(now: now, expected: deadline - now, cap: cap),
            deadline: deadline)
    }

    /// Under the lock, nobody announced: the wait of a worker that would commit a batch smaller
    /// than the previous one (any coach) — the workers just served may be on their way back —
    /// or `nil` to commit now. Each peer that comes back saves a commit; the wait is at most one
    /// commit's cost and the yield budget, once per commit. A blocked thread yields the whole
    /// time (an announcement wakes nobody); a task suspends until its deadline, or until the
    /// peers commit the batch with it. (A batch of pipelined coaches that waited for its
    /// predecessor's commit is the common case: the predecessor's workers come back to it.)
    @inlinable @inline(__always)
    func waitForPeer(_ c: Int, _ patience: inout _Patience, cap: Int64) -> _Wait? {
        // The previous batch first: a batch after a lone batch (the uncontended op) decides
        // here, without a call.
        guard home.policyState.pointee.last_batch > 1 else { return nil }
        return waitForServedPeer(c, &patience, cap: cap)
    }

    @inlinable
    func waitForServedPeer(_ c: Int, _ patience: inout _Patience, cap: Int64) -> _Wait? {
        guard !policy.strict, !patience.peerWaited,
            workersInside(c) < Int(home.policyState.pointee.last_batch),
            // In a pipeline, peers come back to the first free coach only.
            !policy.serialCommits || firstFree == c
        else { return nil }
        let bound = min(commitEstimate, min(policy.yieldBudgetNanos, cap))
        guard bound > Self.inPlaceLimit else { return nil }
        let now = cbatch_now_ns()
        if patience.since == 0 { patience.since = now }
        let deadline = patience.since &+ bound
        if now >= deadline {
            patience.peerWaited = true
            return nil
        }
        return _Wait(channel: Self.commitChannel(c), yieldUntil: deadline, deadline: deadline, untilAnnounced: true)
    }

    /// Under the lock: the wait of a blocking worker for the section, held by an async task of
    /// another process: its body may await anything; yield briefly, then sleep.
    @inlinable
    func waitForSection(cap: Int64) -> _Wait {
        _Wait(channel: sectionChannel, yieldUntil: yieldUntil(now: cbatch_now_ns(), expected: 20_000, cap: cap))
    }

    /// Under the lock: the wait of a worker that cannot enter (every coach is closed): yield when
    /// a closed coach will reset soon (its outcome is out, or its commit is short), else sleep.
    @inlinable
    func waitToEnter(cap: Int64) -> _Wait {
        var expected = Int64.max
        for c in 0..<coachCount {
            if isPublished(c) {
                expected = 0
                break
            }
            if isCommitting(c) { expected = min(expected, commitEstimate) }
        }
        let now = cbatch_now_ns()
        return _Wait(channel: Self.enterChannel, yieldUntil: yieldUntil(now: now, expected: expected, cap: cap))
    }
}

/// Every misuse message, once: a programmer error traps with the message that names the right
/// order of calls. The blocking and async drivers and the public API use these; tests match them.
/// Computed (not stored) so that the hot path reads a constant, not a lazily initialised global.
@usableFromInline
enum _Misuse {
    @inlinable static var enterTwice: StaticString { "enter() called twice: call exit() before entering again" }
    @inlinable static var enterWithoutQueueIn: StaticString {
        "enter() without queueIn(): call queueIn() before enter()"
    }
    @inlinable static var queueOutWithoutQueueIn: StaticString {
        "queueOut() without queueIn(): call queueIn() first"
    }
    @inlinable static var commitOutside: StaticString {
        "commit() outside the batch: the order is queueIn(), enter(), commit(), exit()"
    }
    @inlinable static var cancelOutside: StaticString {
        "cancel() outside the batch: the order is queueIn(), enter(), cancel(), exit()"
    }
    @inlinable static var triggerOutside: StaticString {
        "trigger() outside the batch: call it between enter() and exit()"
    }
    @inlinable static var exitWithoutEnter: StaticString {
        "exit() without enter(): call enter() first, and exit() once"
    }
    @inlinable static var secondOutcome: StaticString {
        "commit() or cancel() called twice: each worker gets one outcome per batch; call exit() next"
    }
    @inlinable static var cancelAfterOutcome: StaticString {
        "cancel() after commit() or cancel(): each worker gets one outcome per batch; call exit() next"
    }
    @inlinable static var cancelNotFilling: StaticString { "cancel() on a batch that is not filling" }
    /// In an async home a task that got its outcome no longer holds the section: its second
    /// commit() or cancel() looks like one outside the batch.
    @inlinable static var asyncCommitOutsideOrAgain: StaticString {
        "commit() called twice, or outside the batch: each worker gets one outcome per batch; the order is queueIn(), enter(), commit(), exit()"
    }
    @inlinable static var asyncCancelOutsideOrAgain: StaticString {
        "cancel() after commit() or cancel(), or outside the batch: the order is queueIn(), enter(), cancel(), exit()"
    }
    @inlinable static var wrongCoach: StaticString {
        "the coach passed is not the one this worker entered: pass the coach enter() returned"
    }
    @inlinable static var queueInInside: StaticString {
        "queueIn() inside the batch: the worker would wait for itself; call it after exit()"
    }
    @inlinable static var ticketInside: StaticString {
        "ticket() inside the batch: the worker would wait for itself; take it after exit()"
    }
    @inlinable static var notifyInside: StaticString {
        "notify() inside the batch would deadlock: call it before enter() or after exit()"
    }
    @inlinable static var balancerInside: StaticString {
        "setting the balancer inside the batch would deadlock: set it outside"
    }
    @inlinable static var sectionEscaped: StaticString {
        "a BatchSection is only valid inside the closure it was given to: do not move it out of batch { }"
    }
    @inlinable static var asyncOutsideTask: StaticString { "the async API must be called from a task" }
}

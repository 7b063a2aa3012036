/// Why a worker did not get the result of a committed batch.
///
/// Every worker of a batch gets the same outcome: the commit function's result, or the same
/// error. The cases here are the errors the library itself produces; an error thrown by the
/// commit function, or given to `cancel(_:)`, reaches every worker of the batch as it is.
public enum BatchError: Error, Sendable, CustomStringConvertible {
    /// The batch was cancelled without an error (`cancel()` or `cancel(nil)`).
    case canceled
    /// Another worker of the batch threw inside the critical section before committing (Go's
    /// `PanicError`): the batch is poisoned and not committed. Carries that worker's error.
    case workerFailed(any Error)
    /// A non-blocking enter found no coach that accepts workers (every coach is committing, or
    /// the balancer refused). Nothing was added; try again later.
    case busy
    /// A worker process of the batch died inside the critical section before committing, so its
    /// change to the shared state may be half done: the batch is poisoned and not committed.
    case workerCrashed(pid: Int32)
    /// The committer process died while running the commit function: the commit may or may not
    /// have happened. Check the destination before retrying.
    case outcomeUnknown(committerPID: Int32)
    /// An error thrown in another process (by the commit function, or by a worker that poisoned
    /// the batch), known here by its description.
    case remote(String)

    public var description: String {
        switch self {
        case .canceled: "batch canceled"
        case .workerFailed(let error): "another worker of the batch failed: \(error)"
        case .busy: "no coach accepts workers now (non-blocking enter)"
        case .workerCrashed(let pid): "worker crashed (pid \(pid)): the batch was not committed"
        case .outcomeUnknown(let pid):
            "outcome unknown: the committer (pid \(pid)) died during commit; the commit may or may not have happened"
        case .remote(let text): text
        }
    }
}

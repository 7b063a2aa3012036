import CBatchCore

/// The async batchers' submission (``AsyncBatcher``, and BatchIPC's `AsyncSharedBatcher`):
/// the engine's ``_BatchEngine/submitStep(_:me:maxBatchSize:cancelled:yieldCap:add:)`` run
/// through ``_AsyncBatchHome/drive(owned:cancellable:me:_:)``, written once for every async home.
extension _BatchEngine where Home: _AsyncBatchHome {
    /// Announces a submitter, adds its item with `add` (which says whether the item fits the
    /// batch of `coach`, where it is at `index`; see `submitStep`), and returns the result of the
    /// batch that carried it — running that batch's commit function when this submitter closes
    /// it. A task suspends only when it must wait.
    ///
    /// - Throws: the batch's error; `CancellationError` if the task was cancelled before its item
    ///   was added (it is then in no batch, and no longer counts as coming); the home's error
    ///   when it has no seat or its lock fails.
    @inlinable
    nonisolated(nonsending) public func asyncSubmit(
        maxBatchSize: Int?, add: (_ coach: Int, _ index: Int) -> Bool
    ) async throws -> Home.Result {
        _ = queueIn()
        let me = try await takeSeat(task: _currentTask())
        defer { home.returnSeat(me) }
        var submission = _Submission()
        let driven = await home.drive(owned: false, cancellable: true, me: me) { () -> _SectionStep<SubmitStep> in
            let step = submitStep(
                &submission, me: me, maxBatchSize: maxBatchSize, cancelled: Task.isCancelled,
                yieldCap: Self.taskYieldCap, add: add)
            switch step {
            case .wait(let plan, let cancellable):
                // Waiting for its batch's outcome, a submitter has nothing left to do in it: a
                // home that can hands it the outcome and counts its exit.
                return .wait(
                    channel: plan.channel, deadline: plan.deadline, cancellable: cancellable,
                    exitsWhenReleased: !cancellable)
            case .done, .commit, .cancelled:
                return .release(step)
            }
        }
        switch driven {
        case .done(.cancelled), .cancelled:
            if submission.isQueued { leaveBeforeEntering() }
            throw CancellationError()
        case .failed(let error):
            if submission.isQueued { leaveAfterFailure() }
            throw error
        case .done(.done(let outcome)):
            return try outcome.get()
        case .exited(let outcome):
            return try outcome.get()  // the publisher counted this exit
        case .released:
            // Published while this task waited: the outcome stays until the coach resets, which
            // waits for this exit.
            let c = submission.coach
            let outcome = Swift.Result { try home.releasedResult(coach: c) }
            try home.lock()
            _ = home.takeReleasedExit(coach: c)
            _ = exitStep(coach: c)
            home.unlock()
            return try outcome.get()
        case .done(.commit(let c, let workers, let measure)):
            let (outcome, took) = await runCommit(coach: c, workers: workers, measure: measure)
            // Publishing and leaving need the mutex, not the section.
            try home.lock()
            let result = finishSubmission(outcome, coach: c, took: took, me: me)
            home.unlock()
            return try result.get()
        case .done(.wait):
            preconditionFailure("a wait is not an end")
        }
    }
}

import Batch

/// Per segment and process: what its async workers need — the thread that sleeps on the
/// segment's channels for suspended tasks (``TaskParking``) and the tasks' participant seats
/// (``TaskSeats``). Made by the first async coordinator or batcher over the segment; the parking
/// thread ends in `SharedSegment.close()`.
final class SegmentTasks: Sendable {
    let parking: TaskParking
    let seats: TaskSeats

    init(parking: TaskParking, seats: TaskSeats) {
        self.parking = parking
        self.seats = seats
    }
}

extension SharedSegment {
    /// Attaches this process and gives its async workers their support, made on first use.
    ///
    /// The first call marks the segment as having async workers: from then on every worker,
    /// blocking ones too, holds the mutex only for a step and the critical section in the
    /// engine's holder fields. Taking the mutex to mark it waits for a blocking worker that
    /// holds it for its section. Workers that entered before keep their way until they exit: one
    /// that waited in commit takes the mutex back for the rest of its section (its own record
    /// says so), which crash repair handles like any holder that keeps the lock.
    func tasks() throws(SharedBatchError) -> SegmentTasks {
        try attach()
        let made: Swift.Result<SegmentTasks, SharedBatchError> = asyncTasks.withLock { existing in
            if let existing { return .success(existing) }
            do throws(SharedBatchError) {
                try lock()
            } catch {
                return .failure(error)
            }
            markAsyncWorkers()
            unlock()
            let made = SegmentTasks(
                parking: TaskParking(
                    channels: futex.channels, coaches: coachCount, livenessNS: livenessNS,
                    checkLiveness: { [unowned(unsafe) self] in
                        // A failure here is recorded (``failure``); the parked tasks find it.
                        guard (try? self.lock()) != nil else { return self.waitingStopped != nil }
                        do throws(SharedBatchError) {
                            try self.repair(ownerDied: false, check: true)
                            self.unlock()
                        } catch {
                            _ = self.brokenUnlocking(error)
                        }
                        return self.waitingStopped != nil
                    }),
                seats: TaskSeats(segment: self))
            existing = made
            return .success(made)
        }
        return try made.get()
    }
}

import CBatchCore

/// The queue of announced workers, and the wake-up after leaving it: used alike by the blocking
/// and the async driver.
extension _BatchEngine where Home: _WorkerHome {
    /// Announce a worker. Lock free.
    @inlinable
    public func queueIn() -> Int {
        let n = home.queueIn()
        home.note(.queued, coach: -1)
        return n
    }

    /// Take back an announcement (call ``notify()`` after it). Lock free.
    @inlinable
    public func queueOut() -> Int {
        let n = home.queueOut()
        precondition(n >= 0, _Misuse.queueOutWithoutQueueIn.description)
        home.note(.idle, coach: -1)
        return n
    }

    /// Wake workers waiting in commit (so that they re-check the queue) and workers waiting to
    /// enter (so that a balancer is asked again).
    @inlinable
    public func notify() {
        do { try home.lock() } catch { return }  // a failed home: nobody to wake
        wakeOtherCommitters(except: -1)
        home.wake(Self.enterChannel, all: true)
        home.unlock()
    }

    /// A worker that announced itself cannot enter because its home failed (a shared-memory
    /// segment found corrupt, or closed): it leaves the queue — without the misuse check, the
    /// counter it announced on may be gone — and the committers re-check, if they still can.
    @inlinable
    public func leaveAfterFailure() {
        _ = home.queueOut()
        notify()
    }

    /// A worker that announced itself gives up before entering: it leaves the queue and the
    /// committers re-check (a dropped ticket, `leave()`, a cancelled task).
    @inlinable
    public func leaveBeforeEntering() {
        _ = queueOut()
        notify()
    }

    /// Sets the balancer's choice function under the lock, and wakes the workers waiting to
    /// enter, so that workers refused by the old one are asked again.
    @inlinable
    public func setBalancer(_ balancer: _Balancer?, _ choice: (@Sendable (_ free: [UInt64]) -> Int)?) {
        do { try home.lock() } catch { return }  // a failed home: nobody enters any more
        defer { home.unlock() }
        balancer?.pick = choice
        home.wake(Self.enterChannel, all: true)
    }

    /// The balancer's choice function, read under the lock.
    @inlinable
    public func balancerChoice(_ balancer: _Balancer?) -> (@Sendable (_ free: [UInt64]) -> Int)? {
        do { try home.lock() } catch { return nil }
        defer { home.unlock() }
        return balancer?.pick
    }
}

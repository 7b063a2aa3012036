import Batch
import CShmSync

#if canImport(Glibc)
    import Glibc
#endif

/// Not API: the shared-memory home of the batching algorithm. Its `core` and `coaches` point into
/// the segment; `lock` is the segment's robust mutex (with crash repair), `wait` the futex
/// condition, and `note` records each worker's phase in its participant slot.
public final class _SharedHome<Result: BitwiseCopyable & Sendable>: _BatchHome, @unchecked Sendable {
    // @unchecked Sendable: every field is immutable; what they point to is guarded by the
    // segment's mutex or accessed atomically, as `cshm_shm.h` says field by field.
    /// `nil`: the commit function returned, and its value is already in the coach's result
    /// buffer (written without the lock: the coach is closed and not ready, so nobody reads it
    /// until `publish`). Otherwise what it threw. Not generic, so the hot path instantiates no
    /// generic metadata.
    public typealias Outcome = (any Error)?

    public let core: UnsafeMutablePointer<cshm_core>
    public let coaches: UnsafeMutablePointer<cshm_coach>
    public let coachCount: Int
    /// The segment; kept alive by the home.
    @usableFromInline let segment: SharedSegment
    /// The user's commit function.
    @usableFromInline let commitFunction: @Sendable (SharedBatchContents) throws -> Result

    init(segment: SharedSegment, commit: @escaping @Sendable (SharedBatchContents) throws -> Result) {
        self.segment = segment
        self.core = segment.coreP
        self.coaches = segment.coachesP
        self.coachCount = segment.coachCount
        self.commitFunction = commit
    }

    // The hot path is inlinable, so that it is specialised and inlined into the caller like the
    // in-process home (the bar: a shared-memory op within 2× an in-process op).
    @inlinable @inline(__always) public func threadToken() -> UInt64 { segment.myToken() }
    @inlinable @inline(__always) public func lock() { segment.lockRaw() }
    @inlinable @inline(__always) public func unlock() { segment.unlockRaw() }
    public func wait(_ channel: Int) { segment.wait(channel, slot: segment.mySlot()) }
    @inlinable public func wake(_ channel: Int, all: Bool) { segment.wake(channel, all: all) }

    @inlinable public func queueIn() -> Int { segment.queueIn() }
    @inlinable public func queueOut() -> Int { segment.queueOut() }
    @inlinable public var queueLength: Int { segment.queueLength }
    @inlinable public func leaveQueue() -> Int { segment.queueOut() }
    @inlinable @inline(__always) public func note(_ phase: _WorkerPhase, coach: Int) {
        segment.note(phase, coach: coach, slot: segment.mySlot())
    }
    /// The token names the slot (`serial << 16 | slot + 1`, see `reserveSlot`): no lookup.
    @inlinable @inline(__always) public func note(_ phase: _WorkerPhase, coach: Int, token: UInt64) {
        segment.note(phase, coach: coach, slot: Int(truncatingIfNeeded: token & 0xffff) &- 1)
    }

    @inlinable public func runCommit(coach: Int) -> Outcome {
        if let hook = cshm_get_phase_hook() { hook(_WorkerPhase.committing.rawValue) }
        let contents = SharedBatchContents(segment: segment, coach: coach)
        do {
            let value = try commitFunction(contents)
            segment.writeValue(value, coach: coach)
            return nil
        } catch {
            return error
        }
    }
    @inlinable public func publish(_ outcome: consuming Outcome, coach: Int) {
        guard let error = outcome else { return segment.publishValue(coach: coach) }
        segment.publish(error, coach: coach)
    }
    public func publishCancel(_ error: (any Error)?, coach: Int) { segment.storeCancel(error, coach: coach) }
    @inlinable public func result(coach: Int) throws -> Result { try segment.load(coach: coach) }
    public func resetOutcome(coach: Int) {}
}

/// Not API: the home crash repair runs the engine's steps with (close, publish, exit). It never
/// commits and never reads a result.
public final class _RepairHome: _BatchHome, @unchecked Sendable {
    public typealias Result = UInt8
    public typealias Outcome = (any Error)?
    unowned(unsafe) let segment: SharedSegment
    public let core: UnsafeMutablePointer<cshm_core>
    public let coaches: UnsafeMutablePointer<cshm_coach>
    public let coachCount: Int

    init(segment: SharedSegment) {
        self.segment = segment
        self.core = segment.coreP
        self.coaches = segment.coachesP
        self.coachCount = segment.coachCount
    }

    public func threadToken() -> UInt64 { preconditionFailure("crash repair has no thread token") }
    public func lock() { preconditionFailure("crash repair runs under the lock") }
    public func unlock() { preconditionFailure("crash repair runs under the lock") }
    public func wait(_ channel: Int) { preconditionFailure("crash repair never waits") }
    public func wake(_ channel: Int, all: Bool) { segment.wake(channel, all: all) }
    public var queueLength: Int { segment.queueLength }
    public func leaveQueue() -> Int { preconditionFailure("crash repair never enters") }
    @inlinable public func runCommit(coach: Int) -> Outcome { preconditionFailure("crash repair never commits") }
    public func publish(_ outcome: consuming Outcome, coach: Int) { segment.publish(outcome, coach: coach) }
    public func publishCancel(_ error: (any Error)?, coach: Int) { segment.storeCancel(error, coach: coach) }
    public func result(coach: Int) throws -> UInt8 { preconditionFailure("crash repair reads no result") }
    public func resetOutcome(coach: Int) {}
}

// MARK: - Outcomes in the segment

extension SharedSegment {
    /// Not under the lock, by the committer of a closed coach that is not ready: the value's bytes.
    @inlinable
    func writeValue<R: BitwiseCopyable>(_ value: R, coach c: Int) {
        let size = MemoryLayout<R>.size
        precondition(size <= resultCapacity, "result larger than the segment's result capacity")
        withUnsafeBytes(of: value) { bytes in
            if size > 0 { resultBytes(c).copyMemory(from: bytes.baseAddress!, byteCount: size) }
        }
        resultP(c).pointee.length = UInt32(size)
    }

    /// Under the lock, on a closed coach: publishes the value the commit function returned (it
    /// is in the result buffer already). Inlined: the common case.
    @inlinable
    func publishValue(coach c: Int) {
        let r = resultP(c)
        r.pointee.generation = coachesP[c].generation
        r.pointee.pid = pid
        r.pointee.status = UInt32(CSHM_OUTCOME_VALUE)
        cshm_counter_bump(&header.pointee.batches)
    }

    /// Under the lock, on a closed coach: publishes what the commit function produced (its value
    /// is in the result buffer already when `error` is nil).
    @usableFromInline
    func publish(_ error: (any Error)?, coach c: Int) {
        guard let error else { return publishValue(coach: c) }
        let r = resultP(c)
        r.pointee.generation = coachesP[c].generation
        r.pointee.pid = pid
        if case BatchError.outcomeUnknown(let dead) = error {
            r.pointee.status = UInt32(CSHM_OUTCOME_UNKNOWN)
            r.pointee.pid = dead
            return
        }
        cshm_counter_bump(&header.pointee.batches)
        storeError(error, coach: c)
    }

    /// Under the lock, on a closed coach: stores a cancellation or a poisoning error.
    func storeCancel(_ error: (any Error)?, coach c: Int) {
        let r = resultP(c)
        r.pointee.generation = coachesP[c].generation
        r.pointee.pid = pid
        cshm_counter_bump(&header.pointee.cancels)
        switch error {
        case nil, BatchError.canceled?:
            r.pointee.status = UInt32(CSHM_OUTCOME_CANCELED)
        case BatchError.workerCrashed(let pid)?:
            r.pointee.status = UInt32(CSHM_OUTCOME_CRASHED)
            r.pointee.pid = pid
        case let error?:
            storeError(error, coach: c)
        }
    }

    /// An error crosses processes as its description (truncated on a character boundary); the
    /// committer's own process keeps the original.
    func storeError(_ error: any Error, coach c: Int) {
        let r = resultP(c)
        var text = String(describing: error)
        while text.utf8.count > Int(CSHM_ERROR_TEXT) { text.removeLast() }
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { errorText(c).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        r.pointee.status = UInt32(CSHM_OUTCOME_ERROR)
        r.pointee.length = UInt32(bytes.count)
        localErrors[c] = (r.pointee.generation, error)
    }

    /// Under the lock, on a ready coach: the result, or its error thrown.
    @inlinable
    func load<R: BitwiseCopyable>(coach c: Int) throws -> R {
        let r = resultP(c)
        cshm_counter_bump(&header.pointee.served)
        guard r.pointee.status == UInt32(CSHM_OUTCOME_VALUE) else { try throwOutcome(coach: c) }
        precondition(
            Int(r.pointee.length) == MemoryLayout<R>.size,
            "the processes of a segment disagree on the result type (\(r.pointee.length) bytes published, \(MemoryLayout<R>.size) expected)"
        )
        return resultBytes(c).loadUnaligned(as: R.self)
    }

    /// Under the lock, on a ready coach whose outcome is an error: throws it.
    @usableFromInline
    func throwOutcome(coach c: Int) throws -> Never {
        let r = resultP(c)
        switch Int(r.pointee.status) {
        case Int(CSHM_OUTCOME_CANCELED):
            throw BatchError.canceled
        case Int(CSHM_OUTCOME_CRASHED):
            throw BatchError.workerCrashed(pid: r.pointee.pid)
        case Int(CSHM_OUTCOME_UNKNOWN):
            throw BatchError.outcomeUnknown(committerPID: r.pointee.pid)
        case Int(CSHM_OUTCOME_ERROR):
            if r.pointee.pid == pid, let local = localErrors[c], local.generation == r.pointee.generation {
                throw local.error
            }
            let length = min(Int(r.pointee.length), Int(CSHM_ERROR_TEXT))
            let text = String(decoding: UnsafeRawBufferPointer(start: errorText(c), count: length), as: UTF8.self)
            throw BatchError.remote(text)
        default:
            preconditionFailure("result of segment \(name) read before it was published")
        }
    }
}

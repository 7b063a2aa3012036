import Batch
import CBatchCore
import CShmSync

#if canImport(Glibc)
    import Glibc
#endif

/// Not API: what a commit of a shared-memory batch produced, as the home hands it to the engine.
/// The value itself is not carried: the committer writes it into the coach's result buffer
/// before publishing (the coach is closed and not ready, so nobody reads it meanwhile).
public enum _SharedOutcome: Sendable {
    /// The commit function returned; its value is in the coach's result buffer.
    case value
    /// The commit function threw.
    case thrown(any Error)
    /// The committer process died while running the commit function (crash repair).
    case committerDied(pid: Int32)
}

// MARK: - Outcomes in the segment: per coach a status, the publisher's pid, and the value's bytes
// or an error's description (an error crosses processes as its text; the committer's own process
// keeps the original).

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

    /// Under the lock, on a closed coach: publishes what the commit produced.
    @inlinable
    func publish(_ outcome: _SharedOutcome, coach c: Int) {
        let r = resultP(c)
        r.pointee.generation = coachesP[c].generation
        r.pointee.pid = pid
        switch outcome {
        case .value:
            r.pointee.status = UInt32(CSHM_OUTCOME_VALUE)
            cshm_counter_bump(&header.pointee.batches)
        case .thrown(let error):
            cshm_counter_bump(&header.pointee.batches)
            storeError(error, coach: c)
        case .committerDied(let dead):
            r.pointee.status = UInt32(CSHM_OUTCOME_UNKNOWN)
            r.pointee.pid = dead
        }
    }

    /// Under the lock, on a coach just closed without its commit function: stores why.
    func publishClosing(_ closing: _Closing, coach c: Int) {
        let r = resultP(c)
        r.pointee.generation = coachesP[c].generation
        r.pointee.pid = pid
        cshm_counter_bump(&header.pointee.cancels)
        switch closing {
        case .canceled(nil):
            r.pointee.status = UInt32(CSHM_OUTCOME_CANCELED)
        case .workerCrashed(let dead):
            r.pointee.status = UInt32(CSHM_OUTCOME_CRASHED)
            r.pointee.pid = dead
        case .canceled(_?), .workerFailed:
            storeError(closing.error, coach: c)
        }
    }

    /// Under the lock: an error's description (truncated on a character boundary) for the other
    /// processes; the original for this one.
    @usableFromInline
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

    /// Under the lock, on a ready coach: the result, or its error thrown. A value whose length
    /// is not `R`'s (another process published another type, or wrote the word) is an error of
    /// this batch: ``SharedBatchError/corruptSegment(name:field:detail:)``.
    @inlinable
    func load<R: BitwiseCopyable>(coach c: Int) throws -> R {
        let r = resultP(c)
        cshm_counter_bump(&header.pointee.served)
        guard r.pointee.status == UInt32(CSHM_OUTCOME_VALUE) else { try throwOutcome(coach: c) }
        guard Int(r.pointee.length) == MemoryLayout<R>.size else { throw resultLengthMismatch(coach: c, R.self) }
        return resultBytes(c).loadUnaligned(as: R.self)
    }

    @usableFromInline
    func resultLengthMismatch<R>(coach c: Int, _: R.Type) -> SharedBatchError {
        .corruptSegment(
            name: name, field: "result of coach \(c) length",
            detail:
                "\(resultP(c).pointee.length) bytes published, the result type here has \(MemoryLayout<R>.size) (do the processes of the segment disagree on the result type?)"
        )
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
            throw SharedBatchError.corruptSegment(
                name: name, field: "result of coach \(c) status", detail: "\(r.pointee.status) is no outcome")
        }
    }
}

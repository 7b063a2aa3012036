import Batch
import CBatchCore
import CShmSync
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

// Participants: one slot per worker thread in the segment's participant table (its phase, coach,
// pid and the channel it sleeps on), claimed on a thread's first use and cached in a C
// thread-local (cshm_thread.h), released when the thread exits or the segment is closed.

extension SharedSegment {
    /// Under the lock: 1 + the highest slot ever claimed, bounded by the validated capacity (the
    /// segment's copy is shared memory: never trusted as an index bound).
    @usableFromInline var slotHigh: Int { min(Int(header.pointee.slot_high), slotCount) }
    /// The calling thread's slot in this mapping, claimed on first use; -1 when it cannot have
    /// one (the `enter` that follows throws why: ``workerToken()``).
    @inlinable @inline(__always)
    func mySlot() -> Int {
        let cache = cshm_tls()!
        if cache[0].serial == serial { return Int(cache[0].slot) }
        return mySlotSlow()
    }

    /// The calling thread's token in this mapping (its slot's, claimed on first use), or
    /// ``noToken`` when it cannot have a slot.
    @inlinable @inline(__always)
    func myToken() -> UInt64 {
        let cache = cshm_tls()!
        if cache[0].serial == serial { return cache[0].token }
        return mySlotSlow() >= 0 ? cache[0].token : Self.noToken
    }

    /// The token of a thread without a slot: it names no slot (its slot field is beyond every
    /// table) and never the holder of the critical section.
    @usableFromInline static var noToken: UInt64 { 0xffff }

    /// `enter`'s token: the calling thread's, its slot claimed now if it has none; and nothing
    /// enters a segment this process found unusable.
    /// - Throws: the segment's ``failure``, or what ``reserveSlot()`` throws.
    @inlinable @inline(__always)
    func workerToken() throws(SharedBatchError) -> UInt64 {
        let cache = cshm_tls()!
        if cache[0].serial == serial && !isBroken.load(ordering: .relaxed) { return cache[0].token }
        return try workerTokenSlow()
    }

    @usableFromInline @inline(never)
    func workerTokenSlow() throws(SharedBatchError) -> UInt64 {
        if let failure { throw failure }
        try reserveSlot()
        return cshm_tls()![0].token
    }

    @usableFromInline @inline(never)
    func mySlotSlow() -> Int {
        (try? reserveSlot()) ?? -1
    }

    /// Gives the calling thread a participant slot (if it has none yet) and attaches this process.
    /// A thread gets one on its first batch anyway (a full table is then that batch's error);
    /// call this to find out earlier. When the table is full, dead processes are repaired first,
    /// so that their slots are free.
    /// - Throws: ``SharedBatchError/participantTableFull(capacity:)``,
    ///   ``SharedBatchError/processTableFull(capacity:)``, ``SharedBatchError/closed(name:)``,
    ///   ``SharedBatchError/corruptSegment(name:field:detail:)``, or `.system` (attach).
    @discardableResult
    public func reserveSlot() throws(SharedBatchError) -> Int {
        let cache = cshm_tls()!
        for i in 0..<Int(CSHM_TLS_ENTRIES) where cache[i].serial == serial {
            // Into entry 0, where the fast paths look.
            let mine = cache[i]
            cache[i] = cache[0]
            cache[0] = mine
            return Int(mine.slot)
        }
        try attach()
        try lock()
        let claimed: (slot: Int, token: UInt64)?
        do throws(SharedBatchError) {
            claimed = try claimSlot()
        } catch {
            throw brokenUnlocking(error)
        }
        unlock()
        guard let (found, token) = claimed else { throw .participantTableFull(capacity: slotCount) }
        rememberSlot(found, token: token)
        return found
    }

    /// The slot a token of this segment names (`serial << 16 | slot + 1`, see ``claimSlot()``):
    /// -1 for token 0. Not bounded: the caller checks it against the table.
    @inlinable @inline(__always)
    static func slotIndex(ofToken token: UInt64) -> Int { Int(truncatingIfNeeded: token & 0xffff) &- 1 }

    /// Under the lock, attached: claims a free slot of the participant table for this process,
    /// idle — after reclaiming the slots of dead processes when none is free —; `nil` when the
    /// table is full. Its token is `serial << 16 | slot + 1`: unique among the slot's uses, and
    /// it names the slot.
    /// - Throws: ``SharedBatchError/corruptSegment(name:field:detail:)`` from the repair; the
    ///   caller still holds the lock.
    func claimSlot() throws(SharedBatchError) -> (slot: Int, token: UInt64)? {
        let proc = myProc.load(ordering: .relaxed)
        var free = (0..<slotCount).first { slotsP[$0].proc == 0 }
        if free == nil {
            try repair(ownerDied: false, check: true)
            free = (0..<slotCount).first { slotsP[$0].proc == 0 }
        }
        guard let found = free else { return nil }
        let slot = slotsP + found
        // 1 + the highest slot ever claimed first: whenever proc != 0, the slot is below it.
        if header.pointee.slot_high < UInt32(found + 1) { header.pointee.slot_high = UInt32(found + 1) }
        slot.pointee.serial &+= 1
        let token = UInt64(slot.pointee.serial) << 16 | UInt64(found + 1)
        slot.pointee.token = token
        slot.pointee.proc = UInt32(proc + 1)
        slot.pointee.pid = pid
        slot.pointee.phase = 0
        slot.pointee.coach = -1
        slot.pointee.channel = -1
        return (found, token)
    }

    func rememberSlot(_ slot: Int, token: UInt64) {
        threadExitKey.register()
        let cache = cshm_tls()!
        guard
            let free = (0..<Int(CSHM_TLS_ENTRIES)).first(where: { cache[$0].serial == 0 || !isLive(cache[$0].serial) })
        else {
            preconditionFailure(
                "a thread takes part in more than \(CSHM_TLS_ENTRIES) shared segments at once: close some first")
        }
        // Keep the newest in entry 0: the common case is one segment per thread.
        cache[free] = cache[0]
        cache[0] = cshm_tls_entry(serial: serial, slot: Int64(slot), token: token, queued: 0)
    }

    /// Called on the exiting thread (pthread key destructor): frees its slot if it is idle.
    func releaseSlot(_ s: Int) {
        let closed = local.withLock { $0.closed }
        if closed { return }
        do throws(SharedBatchError) { try lock() } catch { return }
        let slot = slotsP + s
        if slot.pointee.proc == UInt32(myProc.load(ordering: .relaxed) + 1) && slot.pointee.phase == 0 {
            slot.pointee.proc = 0
            slot.pointee.token = 0
        }
        unlock()
    }

    /// Under the lock: frees slot `s` (its owner exited, detached, or died and was repaired).
    func freeSlot(_ s: Int) {
        let slot = slotsP + s
        slot.pointee.phase = 0
        slot.pointee.coach = -1
        slot.pointee.channel = -1
        slot.pointee.proc = 0
        slot.pointee.token = 0
    }
}

/// Runs the pthread key destructor on threads that used a segment, so that their slots are freed.
final class ThreadExitKey: Sendable {
    let key: pthread_key_t

    init() {
        var key = pthread_key_t()
        let rc = pthread_key_create(&key) { _ in
            let cache = cshm_tls()!
            for i in 0..<Int(CSHM_TLS_ENTRIES) where cache[i].serial != 0 {
                let serial = cache[i].serial
                let slot = Int(cache[i].slot)
                cache[i].serial = 0
                // Under the registry lock: a segment's deinit unregisters it under the same lock
                // before anything is torn down, so the reference stays valid during the call.
                liveSegments.withLock { registry in
                    registry[serial]?.segment._withUnsafeGuaranteedRef { $0.releaseSlot(slot) }
                }
            }
        }
        precondition(rc == 0, "pthread_key_create failed: \(rc)")
        self.key = key
    }

    /// Makes sure the destructor runs when the calling thread exits.
    func register() {
        if pthread_getspecific(key) == nil {
            _ = pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1))
        }
    }
}
let threadExitKey = ThreadExitKey()

// What the workers insert: rows with a (worker, seq) identity, the id of the batch (transaction)
// that inserted them, and a payload that depends on the identity, so that the check can tell a
// row nobody submitted, or a torn one, from a real one. One table, no index and no constraint:
// a duplicate must be countable, not refused.

import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The identity of a row.
struct RowID: Hashable, Comparable {
    let worker: Int
    let seq: Int

    static func < (a: RowID, b: RowID) -> Bool { (a.worker, a.seq) < (b.worker, b.seq) }
}

/// What every worker of a batch is told once it is committed: which transaction, how many rows.
struct BatchReceipt: BitwiseCopyable, Sendable, Equatable {
    var batch: UInt64
    var size: UInt32
}

enum Rows {
    static let createTable =
        "CREATE TABLE rows(worker INTEGER NOT NULL, seq INTEGER NOT NULL, "
        + "batch INTEGER NOT NULL, payload BLOB NOT NULL)"
    static let insert = "INSERT INTO rows(worker, seq, batch, payload) VALUES (?1, ?2, ?3, ?4)"
    static let selectAll = "SELECT worker, seq, batch, payload FROM rows"

    /// The payload of row `id`: `size` bytes that depend on the worker and the sequence number.
    static func payload(_ id: RowID, size: Int) -> [UInt8] {
        var state = UInt64(truncatingIfNeeded: id.worker) << 32 | UInt64(truncatingIfNeeded: id.seq)
        return (0..<size).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
    }

    /// A row as one record of a shared batch: worker and seq (u32 little-endian each), then the payload.
    static func record(_ id: RowID, payload: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + payload.count)
        for value in [UInt32(id.worker), UInt32(id.seq)] {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        bytes.append(contentsOf: payload)
        return bytes
    }

    /// The identity and the payload bytes of a record made by `record(_:payload:)`.
    static func decode(_ record: UnsafeRawBufferPointer) -> (id: RowID, payload: UnsafeRawBufferPointer)? {
        guard record.count >= 8 else { return nil }
        let worker = UInt32(littleEndian: record.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        let seq = UInt32(littleEndian: record.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        return (RowID(worker: Int(worker), seq: Int(seq)), UnsafeRawBufferPointer(rebasing: record[8...]))
    }
}

/// Batch ids unique in a run: this process's pid, then a counter of its transactions.
enum BatchIDs {
    private static let counter = Atomic<UInt32>(0)
    private static let pid = UInt64(UInt32(bitPattern: getpid()))

    static func next() -> UInt64 {
        pid << 32 | UInt64(counter.add(1, ordering: .relaxed).newValue)
    }
}

/// SQLITE_BUSY errors this process saw, drained into its report lines (`ReportFile`), so that
/// the sum over a run's reports is every busy error seen, whichever thread or task saw it.
enum BusyErrors {
    private static let count = Atomic<Int>(0)

    static func record() { count.add(1, ordering: .relaxed) }

    /// The busy errors seen since the last call.
    static func drain() -> Int { count.exchange(0, ordering: .relaxed) }
}

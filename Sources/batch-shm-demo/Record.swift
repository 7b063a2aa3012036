// The log's format: batches of fixed-size records, each with its own checksum, so that the check
// after a run can tell every record apart, count it, and notice a torn or partial write.
//
//   batch frame = header (32 bytes) + count × record (recordSize bytes each), written with one write
//   header      = "BTCH" u32 | count u32 | recordSize u32 | 0 u32 | batchID u64 | fnv64(bytes 0..<24)
//   record      = "RECD" u32 | worker u32 | seq u64 | recordSize u32 | 0 u32 | filler… | fnv64(bytes 0..<size-8)
//
// All integers little-endian. A record is identified by (worker, seq); the filler is a function of
// both, so a record copied to the wrong place still fails its checksum.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// FNV-1a, 64 bits: cheap, and enough to catch torn and misplaced bytes (not an adversary).
@inline(__always)
func fnv64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes {
        h ^= UInt64(b)
        h &*= 0x100_0000_01b3
    }
    return h
}

enum LogFormat {
    static let batchMagic: UInt32 = 0x4843_5442  // "BTCH" little-endian
    static let recordMagic: UInt32 = 0x4443_4552  // "RECD" little-endian
    static let headerSize = 32
    static let minRecordSize = 32
    static let maxRecordSize = 65536

    /// The identity of a record: worker in the high bits, sequence number in the low 40.
    static func id(worker: Int, seq: Int) -> UInt64 { UInt64(worker) << 40 | UInt64(seq) }
    static func worker(of id: UInt64) -> Int { Int(id >> 40) }
    static func seq(of id: UInt64) -> Int { Int(id & 0xFF_FFFF_FFFF) }

    /// Writes the record (`worker`, `seq`) into `out` (exactly `out.count` bytes, the record size).
    static func fillRecord(_ out: UnsafeMutableRawBufferPointer, worker: Int, seq: Int) {
        let size = out.count
        precondition(size >= minRecordSize, "record size below \(minRecordSize)")
        out.storeBytes(of: recordMagic.littleEndian, toByteOffset: 0, as: UInt32.self)
        out.storeBytes(of: UInt32(worker).littleEndian, toByteOffset: 4, as: UInt32.self)
        out.storeBytes(of: UInt64(seq).littleEndian, toByteOffset: 8, as: UInt64.self)
        out.storeBytes(of: UInt32(size).littleEndian, toByteOffset: 16, as: UInt32.self)
        out.storeBytes(of: UInt32(0), toByteOffset: 20, as: UInt32.self)
        let seed = UInt8(truncatingIfNeeded: worker &* 31 &+ seq)
        for i in 24..<(size - 8) { out[i] = seed &+ UInt8(truncatingIfNeeded: i) }
        let sum = fnv64(UnsafeRawBufferPointer(rebasing: out[0..<(size - 8)]))
        out.storeBytes(of: sum.littleEndian, toByteOffset: size - 8, as: UInt64.self)
    }

    static func makeRecord(worker: Int, seq: Int, size: Int) -> [UInt8] {
        var r = [UInt8](repeating: 0, count: size)
        r.withUnsafeMutableBytes { fillRecord($0, worker: worker, seq: seq) }
        return r
    }

    /// The identity of the record at the start of `bytes` if it is whole and valid.
    static func parseRecord(_ bytes: UnsafeRawBufferPointer, size: Int) -> UInt64? {
        guard bytes.count >= size, size >= minRecordSize else { return nil }
        guard UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) == recordMagic,
            Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self))) == size
        else { return nil }
        let sum = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: size - 8, as: UInt64.self))
        guard fnv64(UnsafeRawBufferPointer(rebasing: bytes[0..<(size - 8)])) == sum else { return nil }
        let worker = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        let seq = Int(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        return id(worker: worker, seq: seq)
    }

    /// One batch frame: the header followed by `records` (whole records, `recordSize` each).
    static func frame(records: UnsafeRawBufferPointer, recordSize: Int, batchID: UInt64) -> [UInt8] {
        precondition(records.count % recordSize == 0, "a batch holds whole records")
        let count = records.count / recordSize
        var out = [UInt8](repeating: 0, count: headerSize + records.count)
        out.withUnsafeMutableBytes { o in
            o.storeBytes(of: batchMagic.littleEndian, toByteOffset: 0, as: UInt32.self)
            o.storeBytes(of: UInt32(count).littleEndian, toByteOffset: 4, as: UInt32.self)
            o.storeBytes(of: UInt32(recordSize).littleEndian, toByteOffset: 8, as: UInt32.self)
            o.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self)
            o.storeBytes(of: batchID.littleEndian, toByteOffset: 16, as: UInt64.self)
            let sum = fnv64(UnsafeRawBufferPointer(rebasing: o[0..<24]))
            o.storeBytes(of: sum.littleEndian, toByteOffset: 24, as: UInt64.self)
            if records.count > 0 {
                UnsafeMutableRawBufferPointer(rebasing: o[headerSize...]).copyMemory(from: records)
            }
        }
        return out
    }
}

/// What a scan of the log found.
struct LogScan {
    /// Per record identity, how many valid copies the log holds.
    var copies: [UInt64: Int] = [:]
    /// Sizes of the whole batches (header and every record valid), in log order.
    var batchSizes: [Int] = []
    /// Batches with a valid header but a missing or invalid record (a torn write).
    var tornBatches = 0
    /// Bytes that belong to no valid record or header (torn writes, garbage).
    var tornBytes = 0
    /// Valid records in the log, copies included.
    var records = 0
    var bytes = 0

    /// Reads the log at `path`; a log that does not exist is empty.
    static func scan(path: String, recordSize: Int) throws -> LogScan {
        if access(path, F_OK) != 0 { return LogScan() }
        let data = try Sys.readFile(path)
        return data.withUnsafeBytes { scan($0, recordSize: recordSize) }
    }

    static func scan(_ data: UnsafeRawBufferPointer, recordSize: Int) -> LogScan {
        var s = LogScan()
        s.bytes = data.count
        let n = data.count
        var pos = 0
        while pos + LogFormat.headerSize <= n {
            guard let count = header(data, at: pos, recordSize: recordSize) else {
                // Not a header here: torn bytes; look for the next header one byte further.
                s.tornBytes += 1
                pos += 1
                continue
            }
            var whole = true
            var p = pos + LogFormat.headerSize
            for _ in 0..<count {
                guard p + recordSize <= n,
                    let id = LogFormat.parseRecord(
                        UnsafeRawBufferPointer(rebasing: data[p..<(p + recordSize)]), size: recordSize)
                else {
                    // A torn batch: what follows may be the next batch, appended after the torn
                    // part. Resynchronise from here, byte by byte.
                    whole = false
                    break
                }
                s.copies[id, default: 0] += 1
                s.records += 1
                p += recordSize
            }
            if whole { s.batchSizes.append(count) } else { s.tornBatches += 1 }
            pos = p
        }
        s.tornBytes += n - pos
        return s
    }

    /// The record count of a valid batch header at `pos`, or nil.
    static func header(_ data: UnsafeRawBufferPointer, at pos: Int, recordSize: Int) -> Int? {
        let h = UnsafeRawBufferPointer(rebasing: data[pos..<(pos + LogFormat.headerSize)])
        guard UInt32(littleEndian: h.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) == LogFormat.batchMagic else {
            return nil
        }
        let sum = UInt64(littleEndian: h.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        guard fnv64(UnsafeRawBufferPointer(rebasing: h[0..<24])) == sum else { return nil }
        guard Int(UInt32(littleEndian: h.loadUnaligned(fromByteOffset: 8, as: UInt32.self))) == recordSize else {
            return nil
        }
        return Int(UInt32(littleEndian: h.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
    }
}

// The segment fuzz target (libFuzzer): arbitrary bytes as a segment's contents. Not a SwiftPM
// product: fuzz/run.sh compiles it with the package's sources (`swiftc -sanitize=fuzzer`).
//
// Input: byte 0 is the mode, the rest its data.
//   mode bit 0 = 0: the data is written over a fresh segment from offset 0 (the header first);
//   mode bit 0 = 1: the data is a list of patches `[offset: u32 LE][length: u8][bytes]`, each
//                   written at `offset % size` (cut at the end of the segment);
//   mode bit 1 = 1: the bytes are written after this process opened and attached, not before.
// Then: open (validation), counters, status; when open accepts, a multi-coordinator attaches
// and runs three non-blocking, triggered batches (each appends a record and adds to the state),
// reading status between them; then close. Nothing may trap, hang, or touch memory outside the
// mapping (AddressSanitizer).
import BatchIPC
import CBatchCore
import CShmSync

#if canImport(Glibc)
    import Glibc
#endif

let configuration = SharedBatchConfiguration(
    coaches: 2, participants: 4, processes: 2, stateSize: 16, arenaCapacity: 256, resultCapacity: 8,
    livenessPeriod: .milliseconds(1))
let name = "/swift-batch-fuzz-\(getpid())"

/// Writes `patches` into the segment file through a mapping of this target's own.
func write(_ patches: [(offset: Int, bytes: ArraySlice<UInt8>)]) {
    let fd = open("/dev/shm" + name, O_RDWR)
    guard fd >= 0 else { return }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0, st.st_size > 0 else { return }
    let size = Int(st.st_size)
    guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else { return }
    defer { munmap(base, size) }
    for (offset, bytes) in patches {
        let at = offset % size
        let count = min(bytes.count, size - at)
        bytes.prefix(count).withUnsafeBytes { (base + at).copyMemory(from: $0.baseAddress!, byteCount: count) }
    }
}

/// The patches of `data` (mode bit 0 = 1).
func patches(_ data: ArraySlice<UInt8>) -> [(offset: Int, bytes: ArraySlice<UInt8>)] {
    var result: [(offset: Int, bytes: ArraySlice<UInt8>)] = []
    var at = data.startIndex
    while at + 5 <= data.endIndex {
        let offset = data[at..<at + 4].reversed().reduce(0) { $0 << 8 | Int($1) }
        let length = Int(data[at + 4])
        let start = at + 5
        let end = min(start + length, data.endIndex)
        result.append((offset, data[start..<end]))
        at = end
    }
    return result
}

@_cdecl("LLVMFuzzerTestOneInput")
public func segmentFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard let mode = input.first else { return 0 }
    let body = input.dropFirst()
    let edits = mode & 1 == 0 ? [(offset: 0, bytes: body)] : patches(body)
    let late = mode & 2 != 0
    _ = try? SharedSegment.unlink(name: name)
    guard let creator = try? SharedSegment.create(name: name, configuration: configuration) else { return 0 }
    defer {
        creator.close()
        _ = try? SharedSegment.unlink(name: name)
    }
    if !late { write(edits) }
    guard let segment = try? SharedSegment.open(name: name) else { return 0 }
    defer { segment.close() }
    _ = segment.counters
    _ = segment.status()
    let multi: SharedMulti<Int64>
    do {
        multi = try SharedMulti<Int64>(segment: segment) { contents in
            var sum = contents.load(as: Int64.self)
            for record in contents.records { sum &+= Int64(record.count) }
            _ = contents.arena.reduce(0, &+)
            return sum
        }
    } catch {
        return 0
    }
    if late { write(edits) }
    for i in 0..<3 {
        _ = try? multi.batch(blocking: false) { section in
            section.trigger()
            try multi.append(bytes: [UInt8](repeating: UInt8(i), count: 5 * i), in: section)
            try multi.withState(Int64.self, in: section) { sum in
                if section.isFirst { sum = 0 }
                sum &+= 1
            }
            return try section.commit()
        }
        _ = segment.status()
        _ = segment.counters
    }
    return 0
}

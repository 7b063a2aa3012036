// A second mapping of a segment's file, for tests that write into a segment what another process
// (a buggy one, a stale image, an adversary of the same uid) could write. Regions are found from
// the header the library wrote, with the layout rule of cshm_layout.h.
import BatchIPC
import CBatchCore
import CShmSync
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The file of segment `name`, mapped shared: what is written here, every user of the segment sees.
final class SegmentFile {
    let base: UnsafeMutableRawPointer
    let size: Int

    init(_ name: String) throws {
        let fd = open("/dev/shm" + name, O_RDWR)
        try #require(fd >= 0, "open /dev/shm\(name): errno \(errno)")
        defer { close(fd) }
        var st = stat()
        try #require(fstat(fd, &st) == 0)
        size = Int(st.st_size)
        let raw = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        try #require(raw != MAP_FAILED && raw != nil)
        base = raw!
    }

    deinit { munmap(base, size) }

    var header: UnsafeMutablePointer<cshm_header> { base.assumingMemoryBound(to: cshm_header.self) }
    /// The robust mutex's lock word (glibc's `__data.__lock`: the owner's thread id and two flags).
    var lockWord: UnsafeMutablePointer<UInt32> {
        UnsafeMutableRawPointer(cshm_header_mutex(header)).assumingMemoryBound(to: UInt32.self)
    }
    var mutexBytes: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: cshm_header_mutex(header), count: MemoryLayout<pthread_mutex_t>.size)
    }
    func coach(_ c: Int) -> UnsafeMutablePointer<cbatch_coach> {
        (base + Int(header.pointee.off_coaches)).assumingMemoryBound(to: cbatch_coach.self) + c
    }
    func slot(_ s: Int) -> UnsafeMutablePointer<cshm_slot> {
        (base + Int(header.pointee.off_slots)).assumingMemoryBound(to: cshm_slot.self) + s
    }
    func proc(_ p: Int) -> UnsafeMutablePointer<cshm_proc> {
        (base + Int(header.pointee.off_procs)).assumingMemoryBound(to: cshm_proc.self) + p
    }
    func result(_ c: Int) -> UnsafeMutablePointer<cshm_result> {
        let h = header.pointee
        return (base + Int(h.off_results) + c * Int(h.stride_result)).assumingMemoryBound(to: cshm_result.self)
    }
    func arenaUsed(_ c: Int) -> UnsafeMutablePointer<UInt64> {
        let h = header.pointee
        return (base + Int(h.off_arena) + c * Int(h.stride_arena)).assumingMemoryBound(to: UInt64.self)
    }
}

/// Whether `error` is the corrupt-segment error of `name` naming a field that contains `field`,
/// and says how to get rid of the segment.
func isCorrupt(_ error: any Error, _ name: String, field: String) -> Bool {
    guard case SharedBatchError.corruptSegment(let n, let f, _) = error else { return false }
    return n == name && f.contains(field) && "\(error)".contains("batch-shm-demo unlink \(name)")
}

// The home the behavioural suite (BehaviourTests.swift, a symlink to Tests/BatchTests) runs
// against here: a fresh shared-memory segment per coordinator, unlinked right after mapping.
import BatchIPC
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

let segmentCounter = Atomic<Int>(0)

/// A unique segment name for this test process.
func uniqueSegmentName(_ tag: String = "t") -> String {
    "/swift-batch-test-\(getpid())-\(tag)-\(segmentCounter.add(1, ordering: .relaxed).newValue)"
}

/// A fresh segment, already unlinked (the mapping lives as long as its coordinator).
func makeSegment(_ configuration: SharedBatchConfiguration) -> SharedSegment {
    let name = uniqueSegmentName()
    do {
        let segment = try SharedSegment.create(name: name, configuration: configuration)
        try SharedSegment.unlink(name: name)
        return segment
    } catch {
        fatalError("cannot make a test segment: \(error)")
    }
}

func makeCoordinator(_ commit: @escaping @Sendable () throws -> Int) -> some BatchCoordinator<Int> {
    let segment = makeSegment(SharedBatchConfiguration(coaches: 1, participants: 128))
    return try! SharedCoordinator<Int>(segment: segment) { _ in try commit() }
}

func makeMulti(
    coaches: Int, _ commit: @escaping @Sendable (_ coach: Int) throws -> Int
) -> some MultiBatchCoordinator<Int> {
    let segment = makeSegment(SharedBatchConfiguration(coaches: coaches, participants: 128))
    return try! SharedMulti<Int>(segment: segment) { contents in try commit(contents.coach) }
}

// The homes the behavioural suite runs against, unchanged: the in-process home and the
// shared-memory home (a fresh segment per coordinator, unlinked right after mapping). A test
// takes a `TestHome` argument (`@Test(arguments: TestHome.allCases)`) and opens the coordinator
// it makes by passing it to a generic function. The suite's coordinators wait by the strict rule
// unless a test asks otherwise: its scenarios hold a batch open by announcing a worker, which the
// adaptive policy rightly does not honour for a commit that costs nothing (WaitPolicyTests pins
// what the adaptive policy does).
import BatchIPC
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A home of the blocking API.
package enum TestHome: String, CaseIterable, Codable, Sendable, CustomTestStringConvertible {
    /// `Coordinator` / `Multi`: threads of this process.
    case inProcess
    /// `SharedCoordinator` / `SharedMulti` over a POSIX shared-memory segment.
    case sharedMemory

    package var testDescription: String { rawValue }

    /// A coordinator of this home whose batches are committed by `commit`.
    /// - Parameter yieldBudget: for the shared-memory home, this process's yield budget for the
    ///   segment (``SharedSegment/yieldBudget``, which caps the coordinator's), with a liveness
    ///   period long enough to allow it; `nil`: the defaults.
    package func makeCoordinator(
        waiting: BatchWaiting = .strict, yieldBudget: Duration? = nil, _ commit: @escaping @Sendable () throws -> Int
    ) -> any BatchCoordinator<Int> {
        switch self {
        case .inProcess:
            return Coordinator<Int>(waiting: waiting, commit: commit)
        case .sharedMemory:
            var configuration = SharedBatchConfiguration(coaches: 1, participants: 128)
            if let yieldBudget { configuration.livenessPeriod = max(.milliseconds(20), yieldBudget * 4) }
            let segment = makeSegment(configuration)
            if let yieldBudget { segment.yieldBudget = yieldBudget }
            return try! SharedCoordinator<Int>(segment: segment, waiting: waiting) { _ in try commit() }
        }
    }

    /// A multi-coordinator of this home with `coaches` coaches.
    package func makeMulti(
        coaches: Int, waiting: BatchWaiting = .strict, _ commit: @escaping @Sendable (_ coach: Int) throws -> Int
    ) -> any MultiBatchCoordinator<Int> {
        switch self {
        case .inProcess:
            return Multi<Int>(coaches: coaches, waiting: waiting, commit: commit)
        case .sharedMemory:
            let segment = makeSegment(SharedBatchConfiguration(coaches: coaches, participants: 128))
            return try! SharedMulti<Int>(segment: segment, waiting: waiting) { contents in try commit(contents.coach) }
        }
    }
}

let segmentCounter = Atomic<Int>(0)

/// A unique segment name for this test process.
package func uniqueSegmentName(_ tag: String = "t") -> String {
    "/swift-batch-test-\(getpid())-\(tag)-\(segmentCounter.add(1, ordering: .relaxed).newValue)"
}

/// A fresh segment, already unlinked (the mapping lives as long as its coordinators).
package func makeSegment(_ configuration: SharedBatchConfiguration) -> SharedSegment {
    let name = uniqueSegmentName()
    do {
        let segment = try SharedSegment.create(name: name, configuration: configuration)
        try SharedSegment.unlink(name: name)
        return segment
    } catch {
        fatalError("cannot make a test segment: \(error)")
    }
}

/// A segment for multi-process tests: created (not unlinked: helper processes open it by name);
/// the caller unlinks it.
package func makeNamedSegment(
    _ configuration: SharedBatchConfiguration, tag: String
) throws -> (name: String, segment: SharedSegment) {
    let name = uniqueSegmentName(tag)
    return (name, try SharedSegment.create(name: name, configuration: configuration))
}

/// A home of the async API.
package enum AsyncTestHome: String, CaseIterable, Codable, Sendable, CustomTestStringConvertible {
    /// `AsyncCoordinator` / `AsyncMulti`: tasks of this process.
    case inProcess
    /// `AsyncSharedCoordinator` / `AsyncSharedMulti` over a POSIX shared-memory segment.
    case sharedMemory

    package var testDescription: String { rawValue }

    /// A coordinator of this home whose batches are committed by `commit`.
    package func makeCoordinator(
        waiting: BatchWaiting = .strict, _ commit: @escaping @Sendable () async throws -> Int
    ) -> any AsyncBatchCoordinator<Int> {
        switch self {
        case .inProcess:
            return AsyncCoordinator<Int>(waiting: waiting, commit: commit)
        case .sharedMemory:
            let segment = makeSegment(SharedBatchConfiguration(coaches: 1, participants: 128))
            return try! AsyncSharedCoordinator<Int>(segment: segment, waiting: waiting) { _ in try await commit() }
        }
    }

    /// A multi-coordinator of this home with `coaches` coaches.
    package func makeMulti(
        coaches: Int, waiting: BatchWaiting = .strict, _ commit: @escaping @Sendable (_ coach: Int) async throws -> Int
    ) -> any AsyncMultiBatchCoordinator<Int> {
        switch self {
        case .inProcess:
            return AsyncMulti<Int>(coaches: coaches, waiting: waiting, commit: commit)
        case .sharedMemory:
            let segment = makeSegment(SharedBatchConfiguration(coaches: coaches, participants: 128))
            return try! AsyncSharedMulti<Int>(segment: segment, waiting: waiting) { contents in
                try await commit(contents.coach)
            }
        }
    }
}

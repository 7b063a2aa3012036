import Testing
import Batch
import Synchronization
import Foundation

@Test func smoke() throws {
    let state = Mutex<[Int]>([])
    let commits = Atomic<Int>(0)
    let coordinator = Coordinator<[Int]> { commits.add(1, ordering: .relaxed); return state.withLock { $0 } }
    let threads = 8, iters = 2000
    let total = Atomic<Int>(0)
    DispatchQueue.concurrentPerform(iterations: threads) { t in
        for i in 0..<iters {
            let item = t * iters + i
            let got = try! coordinator.batch { section in
                state.withLock { if section.index == 0 { $0 = [] }; $0.append(item) }
                return try section.commit()
            }
            precondition(got.contains(item))
            total.add(1, ordering: .relaxed)
        }
    }
    #expect(total.load(ordering: .relaxed) == threads * iters)
    print("batches", commits.load(ordering: .relaxed))
}

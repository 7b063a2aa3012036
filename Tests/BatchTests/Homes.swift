// The home the behavioural suite (BehaviourTests.swift) runs against: here, in process.
// Tests/BatchIPCTests has the same two functions backed by a shared-memory segment and a symlink
// to the same suite, so that one suite proves both homes.
import Batch

func makeCoordinator(_ commit: @escaping @Sendable () throws -> Int) -> some BatchCoordinator<Int> {
    Coordinator<Int>(commit: commit)
}

func makeMulti(
    coaches: Int, _ commit: @escaping @Sendable (_ coach: Int) throws -> Int
) -> some MultiBatchCoordinator<Int> {
    Multi<Int>(coaches: coaches, commit: commit)
}

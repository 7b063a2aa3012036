// swift-tools-version: 6.2
// 6.2: the sources use `nonisolated(nonsending)` and exit tests. Linux only: the C shims stop a
// build elsewhere with one clear #error (CBatchCore.h).
import PackageDescription

let package = Package(
    name: "swift-batch",
    products: [
        .library(name: "Batch", targets: ["Batch"]),
        .library(name: "BatchIPC", targets: ["BatchIPC"]),
        .executable(name: "batch-shm-demo", targets: ["batch-shm-demo"]),
        .executable(name: "batch-bench", targets: ["batch-bench"]),
    ],
    targets: [
        // The algorithm's state in C (a fixed layout both homes share) and relaxed atomics.
        .target(name: "CBatchCore"),
        // BatchIPC's C shim: the segment layout, the robust process-shared mutex, the futex
        // condition, the crash snapshot, thread-local slots.
        .target(name: "CShmSync", dependencies: ["CBatchCore"]),
        // The batching algorithm, written once (Engine/), its blocking and async homes and APIs.
        .target(name: "Batch", dependencies: ["CBatchCore"]),
        // The same algorithm with its state in a POSIX shared-memory segment.
        .target(name: "BatchIPC", dependencies: ["Batch", "CBatchCore", "CShmSync"]),
        .executableTarget(name: "batch-shm-demo", dependencies: ["BatchIPC"]),
        .executableTarget(name: "batch-bench", dependencies: ["Batch", "BatchIPC"]),
        // Re-executed by BatchIPCTests: one real worker process per instance.
        .executableTarget(
            name: "batch-ipc-test-helper", dependencies: ["BatchIPC", "BatchTestSupport"], path: "Tests/IPCHelper"),
        // What the test targets and the helper share: helpers, the homes the behavioural suite
        // runs against, and the multi-process tests' batch layout.
        .target(name: "BatchTestSupport", dependencies: ["Batch", "BatchIPC"], path: "Tests/BatchTestSupport"),
        .testTarget(name: "BatchTests", dependencies: ["Batch", "BatchIPC", "BatchTestSupport"]),
        .testTarget(
            name: "BatchIPCTests", dependencies: ["BatchIPC", "BatchTestSupport", "batch-ipc-test-helper"]),
        .testTarget(name: "DemoTests", dependencies: ["batch-shm-demo"]),
    ],
    swiftLanguageModes: [.v6]
)

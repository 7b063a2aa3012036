// swift-tools-version: 6.0
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
        // C shim: the layout shared by both homes, atomics over raw memory, and (for BatchIPC)
        // POSIX shared memory, the robust process-shared mutex and the futex condition.
        .target(name: "CShmSync"),
        // The batching algorithm, written once, and its in-process home.
        .target(name: "Batch", dependencies: ["CShmSync"]),
        // The same algorithm with its state in a POSIX shared-memory segment.
        .target(name: "BatchIPC", dependencies: ["Batch", "CShmSync"]),
        .executableTarget(name: "batch-shm-demo", dependencies: ["BatchIPC"]),
        .executableTarget(name: "batch-bench", dependencies: ["Batch", "BatchIPC", "CShmSync"]),
        // Re-executed by BatchIPCTests: one real worker process per instance.
        .executableTarget(name: "batch-ipc-test-helper", dependencies: ["BatchIPC"], path: "Tests/IPCHelper"),
        .testTarget(name: "BatchTests", dependencies: ["Batch"]),
        .testTarget(name: "BatchIPCTests", dependencies: ["BatchIPC", "batch-ipc-test-helper"]),
        .testTarget(name: "DemoTests", dependencies: ["batch-shm-demo"]),
    ],
    swiftLanguageModes: [.v6]
)

// BatchIPC: the batching algorithm of `Batch` with its state in a POSIX shared-memory segment, so
// that worker *processes* join one batch. See docs/IPC.md for the user guide and
// DESIGN.md §2 for the layout, the crash model and the security rules.
//
// - ``SharedSegment``: create, open, close, unlink a segment; counters and a status snapshot.
// - ``SharedCoordinator`` / ``SharedMulti``: the same calls and the same safe API as
//   `Coordinator` / `Multi` (they conform to `BatchCoordinator` / `MultiBatchCoordinator`).
// - ``SharedBatchContents``: what a commit function reads (the coach's state bytes and records).
// - ``SharedBatchError``: typed environment and validation errors; each says what to do.
@_exported import Batch

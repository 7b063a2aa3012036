// BatchIPC re-exports Batch: its coordinators conform to Batch's protocols (`BatchCoordinator`,
// `MultiBatchCoordinator`) and throw Batch's `BatchError`, so a client needs one import. The
// module's overview is in BatchIPC.docc; the user guide in docs/IPC.md.
@_exported import Batch

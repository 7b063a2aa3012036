// The shared-memory home of the batching algorithm: filled by issue 3.
@_exported import Batch

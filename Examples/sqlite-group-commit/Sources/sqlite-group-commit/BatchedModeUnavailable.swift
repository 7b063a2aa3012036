// Stands in for BatchedMode.swift until BatchIPC has `AsyncSharedBatcher` (issue 13); delete this
// file when switching (see BatchedMode.swift).

#if !ASYNC_SHARED_BATCHER
    enum BatchedMode {
        /// Why spawn refuses `--mode batched`.
        static let unavailableReason: String? =
            "batched mode needs AsyncSharedBatcher, which this build of BatchIPC does not have yet"

        static func run(_ options: WorkerOptions, rows: RowSequence, report: ReportFile) throws {
            throw RuntimeFailure(unavailableReason!)
        }
    }
#endif

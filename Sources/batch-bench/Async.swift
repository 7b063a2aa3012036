// Owned by the async work (issue 5): async op cost and contended throughput.
func runAsyncBench() { print("async: not yet") }

// Owned by the BatchIPC work (issue 3): the shared-memory op cost next to the in-process one.
func runSharedBench() { print("shared: not yet") }

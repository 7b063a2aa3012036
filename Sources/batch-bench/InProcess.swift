func runInProcessBench() { print("in-process: not yet") }

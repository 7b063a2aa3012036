// batch-bench: measures the batching library. See docs/BENCHMARKS.md.
//   swift run -c release batch-bench [inprocess|shared|async|all]
//   batch-bench threads|tasks|openloop   (batching against what users write by hand)
//   batch-bench allocs low|safe N   (for scripts/check-allocs.sh)
import Batch

#if canImport(Glibc)
    import Glibc
#endif

let usage = """
    usage: batch-bench [inprocess|shared|async|all]
           batch-bench threads|tasks|openloop [threads|processes]
           batch-bench allocs low|safe N
    Environment: BATCH_BENCH_RUNS, BATCH_BENCH_SECONDS, BATCH_BENCH_N (see docs/BENCHMARKS.md).
    """

let which = CommandLine.arguments.dropFirst().first ?? "all"
switch which {
case "inprocess": runInProcessBench()
case "shared": runSharedBench()
case "async": runAsyncBench()
case "threads": runThreadSweep()
case "tasks": runTaskSweep()
case "openloop": runOpenLoopBench(Array(CommandLine.arguments.dropFirst(2)))
case "openloop-worker": runOpenLoopWorker(Array(CommandLine.arguments.dropFirst(2)))
case "allocs": runAllocProbe(Array(CommandLine.arguments.dropFirst(2)))
case "all":
    runInProcessBench()
    runSharedBench()
    runAsyncBench()
case "-h", "--help", "help":
    print(usage)
default:
    printError("Error: unknown subcommand '\(which)'\n\(usage)\nSee 'batch-bench --help' for more information.")
    exit(64)
}

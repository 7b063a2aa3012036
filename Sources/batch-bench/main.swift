// batch-bench: measures the batching library. See docs/BENCHMARKS.md.
//   swift run -c release batch-bench [inprocess|shared|async|all]
//   batch-bench allocs low|safe N   (for scripts/check-allocs.sh)
import Batch

let which = CommandLine.arguments.dropFirst().first ?? "all"
switch which {
case "inprocess": runInProcessBench()
case "shared": runSharedBench()
case "async": runAsyncBench()
case "allocs": runAllocProbe(Array(CommandLine.arguments.dropFirst(2)))
case "all":
    runInProcessBench()
    runSharedBench()
    runAsyncBench()
default:
    print("usage: batch-bench [inprocess|shared|async|all] | allocs low|safe N")
}

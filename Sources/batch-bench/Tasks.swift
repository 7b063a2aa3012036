// `batch-bench tasks` (DESIGN.md §8, "batching never loses"): the library's async batching against a hand-written actor
// batcher (ActorBatcher.swift). N tasks on the default cooperative pool in a closed loop, each
// submitting one item at a time; three contenders per cell, run interleaved (actor,
// `AsyncBatcher.submit`, `AsyncCoordinator.batch { }`, actor, …) so that they see the same load.
//
//   batch-bench tasks
//   BATCH_BENCH_RUNS (default 5) runs per contender and cell; BATCH_BENCH_SECONDS (default 0.3)
//   per run; BATCH_BENCH_N ("1 8 256") task counts.
import Batch

#if canImport(Glibc)
    import Glibc
#endif

/// What an async commit costs in the task sweep: nothing, or a `Task.sleep` (I/O; the thread is
/// free meanwhile).
enum AsyncCommitCost: Sendable {
    case none
    case sleep(microseconds: Int)

    var label: String {
        switch self {
        case .none: "none"
        case .sleep(let us): "\(us) µs `Task.sleep`"
        }
    }

    func pay() async {
        if case .sleep(let us) = self { try? await Task.sleep(nanoseconds: UInt64(us) * 1000) }
    }
}

/// Who runs the ops of a task-sweep run.
enum TaskContender {
    case actor
    case asyncBatcher
    case asyncCoordinator
}

/// One closed-loop run of `contender`: `tasks` tasks each submit one item (1) at a time; the
/// commit function pays `commit`, counts itself (commits are one at a time) and returns the
/// batch's size.
func taskSweepRun(_ contender: TaskContender, tasks: Int, commit: AsyncCommitCost, seconds: Double) -> LoopResult {
    let sum = BenchSum()
    let commitItems: @Sendable ([Int]) async throws -> Int = { items in
        await commit.pay()
        sum.commits &+= 1
        return items.count
    }
    switch contender {
    case .actor:
        let batcher = ActorBatcher<Int, Int>(commit: commitItems)
        return closedLoopTasks(tasks: tasks, seconds: seconds, sum: sum) { _ = try? await batcher.submit(1) }
    case .asyncBatcher:
        let batcher = AsyncBatcher<Int, Int>(commit: commitItems)
        return closedLoopTasks(tasks: tasks, seconds: seconds, sum: sum) { _ = try? await batcher.submit(1) }
    case .asyncCoordinator:
        let coordinator = AsyncCoordinator<Int> {
            await commit.pay()
            sum.commits &+= 1
            return sum.value
        }
        return closedLoopTasks(tasks: tasks, seconds: seconds, sum: sum) {
            _ = try? await coordinator.batch { section in
                if section.isFirst { sum.value = 0 }
                sum.value &+= 1
                return try await section.commit()
            }
        }
    }
}

func runTaskSweep() {
    let runs = max(1, environmentInt("BATCH_BENCH_RUNS", 5))
    let seconds = environmentDouble("BATCH_BENCH_SECONDS", 0.3)
    printSweepHeader(
        "Tasks, closed loop: `AsyncBatcher` and `AsyncCoordinator` against a hand-written actor batcher",
        runs: runs, seconds: seconds,
        extra: "; contenders run in the order actor, AsyncBatcher, AsyncCoordinator, run after run")
    print(
        "| tasks | commit | actor ops/s | actor mean batch | AsyncBatcher ops/s (mean batch) | ÷ actor "
            + "| AsyncCoordinator.batch ops/s (mean batch) | ÷ actor | others |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for commit: AsyncCommitCost in [.none, .sleep(microseconds: 100)] {
        for tasks in environmentCounts([1, 8, 256]) {
            let cpu = CPUSnapshot.take()
            let results = interleaved(
                runs: runs,
                [TaskContender.actor, .asyncBatcher, .asyncCoordinator].map { who in
                    { _ in taskSweepRun(who, tasks: tasks, commit: commit, seconds: seconds) }
                })
            let (actor, batcher, coordinator) = (results[0], results[1], results[2])
            // The bar (DESIGN.md §8): ≥ 1.0× the actor with 8 or more tasks, ≥ 0.95× with one.
            let bar = Bar(tasks == 1 ? 0.95 : 1.0)
            func cell(_ runs: [LoopResult]) -> String {
                "\(formatRate(median(runs.map(\.opsPerSecond)))) (\(formatFixed(median(runs.map(\.meanBatch)), 2)))"
            }
            print(
                "| \(tasks) | \(commit.label) | \(formatRate(median(actor.map(\.opsPerSecond)))) "
                    + "| \(formatFixed(median(actor.map(\.meanBatch)), 2)) | \(cell(batcher)) "
                    + "| \(judged(medianOfRatios(batcher.map(\.opsPerSecond), actor.map(\.opsPerSecond)), against: bar)) "
                    + "| \(cell(coordinator)) "
                    + "| \(judged(medianOfRatios(coordinator.map(\.opsPerSecond), actor.map(\.opsPerSecond)), against: bar)) "
                    + "| \(cpu.others(until: .take())) |"
            )
            fflush(nil)  // each row as soon as it is measured
        }
    }
    printSweepFooter()
}

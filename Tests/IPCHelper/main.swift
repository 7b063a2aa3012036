// batch-ipc-test-helper: one real worker process for BatchIPCTests (re-executed by the tests,
// never forked). Usage:
//
//   batch-ipc-test-helper worker NAME OPS [--kill PHASE] [--kill-at N] [--trigger] [--log PATH] [--threads T]
//       [--tasks T] [--waiting strict|adaptive]
//       Opens segment NAME, runs OPS batches (per thread) adding 1 to the batch's sum and
//       appending a record (pid, thread, op); prints one line per op, then a summary line:
//         ok <op> total=<grand total> size=<batch size>     |  err <op> <error description>
//         summary ok=<n> err=<n>
//       --kill PHASE: SIGKILL itself when it reaches PHASE (queued, entered, waiting,
//       committing, done) during op --kill-at (default 0); `held`: inside its section, after
//       adding, between steps. --trigger: trigger before commit.
//       --log PATH: the commit function appends the batch's records to PATH with one write.
//       --waiting: the coordinator's waiting policy; strict (the default here) lets the tests
//       hold a batch open by announcing a worker, whatever the commit costs.
//       --tasks T: T tasks on the default cooperative pool through an AsyncSharedCoordinator
//       (instead of threads through a SharedCoordinator), each running OPS batches; each takes
//       a ticket, suspends once (it "prepares" while announced), then enters.
//       --api blocking (with --tasks): the tasks use a SharedCoordinator instead — the
//       experiment that shows the blocking API deadlocking the cooperative pool.
//       --watchdog S: exit with status 42 after S seconds (a run that is still going).
//       --announce-in-commit-and-die: the commit function announces the next op (queueIn, the
//       section released) and SIGKILLs the process (threads only).
//       --thread-dies-noting PHASE: during op --kill-at, the worker's thread ends (the exit
//       system call, the process lives on) inside the phase change to PHASE, after the crash
//       snapshot and before the slot's phase store, holding the lock.
//       --found-corrupt PHASE: during op --kill-at, at the phase change to PHASE, the process
//       finds the segment corrupt (as a failed check does); after its ops it prints `stopped`
//       and waits, alive, until it is killed.
//       --thread-dies-before-noting PHASE: the same, but as if before the crash snapshot (the
//       hook makes the previous snapshot current again).
//   batch-ipc-test-helper submit NAME OPS [--threads T | --tasks T] [--log PATH]
//       Submits OPS records (per thread or task) through a SharedBatcher (threads) or an
//       AsyncSharedBatcher (tasks); the commit function appends the batch's records to PATH
//       with one write and returns how many there were. Prints the summary line as `worker`.
//   batch-ipc-test-helper create NAME
//       Creates segment NAME with the tests' process configuration (for manual runs).
//   batch-ipc-test-helper stat NAME
//       Prints the counters and a status line of segment NAME, without taking part.
//   batch-ipc-test-helper die-locked NAME
//       Opens segment NAME, takes its mutex and SIGKILLs itself while holding it.
//   batch-ipc-test-helper die-repairing NAME POINT
//       Opens segment NAME and runs one op; SIGKILLs itself when the crash repair that op's
//       lock runs reaches POINT (a raw value of _RepairPoint). Exits 1 if it never does.
//   batch-ipc-test-helper hold-section NAME GO [--trigger]
//       Opens segment NAME; a task of an AsyncSharedCoordinator enters a batch (and triggers
//       it), prints `holding <pid>`, and holds the section (not the mutex) until file GO
//       exists; then it commits and prints `ok 0 total=<total> size=<size>` or `err 0 <error>`.
//   batch-ipc-test-helper create-die NAME
//       Creates segment NAME and SIGKILLs itself in the middle of the initialisation.
//   batch-ipc-test-helper idle NAME
//       Opens segment NAME, attaches, runs one op (so that it holds a participant slot), prints
//       `ready <pid>` and waits, idle, until it is killed.
//
// Exit status 0 when every op got an answer it could check, 1 on a check failure, 2 on usage.
@_spi(Testing) import BatchIPC
import BatchTestSupport
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

nonisolated(unsafe) var killPhase: UInt32 = UInt32.max
let currentOp = Atomic<Int>(0)
nonisolated(unsafe) var killAt = 0
/// `--thread-dies-before-noting`: the checkpoint hook undoes the checkpoint of the segment the
/// worker opened before its thread ends.
nonisolated(unsafe) var undoCheckpoint = false
nonisolated(unsafe) var hookSegment: SharedSegment?
/// `--kill held`: the worker kills itself inside its section, between steps (it holds the
/// section, not the mutex, where async workers take part), during op `--kill-at`.
nonisolated(unsafe) var killHeld = false
/// `--announce-in-commit-and-die`: announces the next op (set once the coordinator exists).
nonisolated(unsafe) var announceNext: (@Sendable () -> Void)?
/// `die-repairing`: the repair point to die at.
nonisolated(unsafe) var repairPoint = UInt32.max

/// Inside a section, after adding: dies here if asked to.
@Sendable func maybeDieHoldingTheSection(_ op: Int) {
    if killHeld && op == killAt { kill(getpid(), SIGKILL) }
}

func fail(_ message: String) -> Never {
    var text = "helper: \(message)\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(2)
}

func phase(named name: String) -> UInt32 {
    switch name {
    case "idle": SharedParticipantPhase.idle.rawValue
    case "queued": SharedParticipantPhase.queued.rawValue
    case "entered": SharedParticipantPhase.entered.rawValue
    case "waiting": SharedParticipantPhase.waiting.rawValue
    case "committing": SharedParticipantPhase.committing.rawValue
    case "done": SharedParticipantPhase.done.rawValue
    default: fail("unknown phase \(name)")
    }
}

let allArgs = Array(CommandLine.arguments.dropFirst())
guard let command = allArgs.first else { fail("usage: batch-ipc-test-helper worker|create-die NAME ...") }
let args = Array(allArgs.dropFirst())

func option(_ flag: String) -> String? {
    guard let i = args.firstIndex(of: flag), i + 1 < args.count else { return nil }
    return args[i + 1]
}

/// Posted once when the tasks are done; the main thread (not a pool thread) waits for it.
final class Finished: @unchecked Sendable {
    // @unchecked Sendable: a semaphore, made for threads.
    private let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
    init() { sem_init(semaphore, 0, 0) }
    func post() { sem_post(semaphore) }
    func wait() { while sem_wait(semaphore) != 0 {} }
}

/// `tasks` tasks of a task group, each running `ops` batches through `coordinator` (the async
/// twin of the threads' loop below).
func runTasks(
    _ coordinator: AsyncSharedCoordinator<TestResult>, blocking: SharedCoordinator<TestResult>?, tasks: Int, ops: Int,
    trigger: Bool, pid: pid_t, answered: @escaping @Sendable (Int, Result<TestResult, any Error>, inout Int64) -> Void
) async {
    await withTaskGroup(of: Void.self) { group in
        for t in 0..<tasks {
            group.addTask {
                var lastTotal: Int64 = 0
                for op in 0..<ops {
                    if t == 0 { currentOp.store(op, ordering: .relaxed) }
                    let answer: Result<TestResult, any Error>
                    do {
                        if let blocking {
                            let ticket = blocking.ticket()
                            await Task.yield()
                            answer = .success(
                                try ticket.enter { section in
                                    try countIntoTestBatch(blocking, coach: section.coach, first: section.isFirst)
                                    return try section.commit()
                                })
                        } else {
                            let ticket = coordinator.ticket()
                            await Task.yield()
                            answer = .success(
                                try await ticket.enter { section in
                                    try countIntoTestBatch(coordinator, coach: section.coach, first: section.isFirst)
                                    try coordinator.append(
                                        record: TestRecord(pid: pid, thread: Int32(t), op: Int64(op)), in: section)
                                    maybeDieHoldingTheSection(op)
                                    if trigger { section.trigger() }
                                    return try await section.commit()
                                })
                        }
                    } catch {
                        answer = .failure(error)
                    }
                    answered(op, answer, &lastTotal)
                }
            }
        }
    }
}

/// `tasks` tasks each submitting `ops` records through `batcher`.
func submitFromTasks(
    _ batcher: AsyncSharedBatcher<Int>, tasks: Int, ops: Int, record: @escaping @Sendable (Int, Int) -> [UInt8],
    answered: @escaping @Sendable (Int, Result<Int, any Error>) -> Void
) async {
    await withTaskGroup(of: Void.self) { group in
        for t in 0..<tasks {
            group.addTask {
                for op in 0..<ops {
                    do {
                        answered(op, .success(try await batcher.submit(record(t, op))))
                    } catch {
                        answered(op, .failure(error))
                    }
                }
            }
        }
    }
}

/// One line to stdout with one write: nothing is lost in a buffer when the process is killed.
@Sendable func say(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
}

switch command {
case "create":
    guard let name = args.first else { fail("create NAME") }
    do {
        _ = try SharedSegment.create(
            name: name,
            configuration: processConfiguration)
    } catch {
        fail("\(error)")
    }
    exit(0)

case "stat":
    // Reads the counters and the status of segment NAME without taking part (no lock taken).
    guard let name = args.first else { fail("stat NAME") }
    do {
        let segment = try SharedSegment.open(name: name)
        let c = segment.counters
        let status = segment.status()
        say(
            "counters batches=\(c.batches) served=\(c.workersServed) crashes=\(c.crashesRecovered) cancels=\(c.cancels)"
        )
        say(
            "coach0 count=\(status.coaches[0].count) participants=\(status.participants.count) processes=\(status.processes.count)"
        )
        segment.close()
    } catch {
        fail("\(error)")
    }
    exit(0)

case "submit":
    guard args.count >= 2, let ops = Int(args[1]) else { fail("submit NAME OPS") }
    let threads = Int(option("--threads") ?? "1") ?? 1
    let tasks = Int(option("--tasks") ?? "0") ?? 0
    let logFD: Int32 = option("--log").map { open($0, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600) } ?? -1
    let segment: SharedSegment
    do {
        segment = try SharedSegment.open(name: args[0])
    } catch {
        say("open-failed \(error)")
        exit(1)
    }
    let commit: @Sendable (borrowing SharedBatchContents) -> Int = { contents in
        let arena = contents.arena
        if logFD >= 0 && !arena.isEmpty {
            let n = write(logFD, arena.baseAddress, arena.count)
            precondition(n == arena.count, "short write to the log")
        }
        return contents.records.count
    }
    let ok = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    let bad = Atomic<Int>(0)
    let pid = getpid()
    @Sendable func answered(_ op: Int, _ answer: Result<Int, any Error>) {
        switch answer {
        case .success(let size):
            if size < 1 { bad.add(1, ordering: .relaxed) }
            ok.add(1, ordering: .relaxed)
        case .failure(let error):
            errors.add(1, ordering: .relaxed)
            say("err \(op) \(error)")
        }
    }
    @Sendable func record(_ worker: Int, _ op: Int) -> [UInt8] {
        withUnsafeBytes(of: TestRecord(pid: pid, thread: Int32(worker), op: Int64(op))) { Array($0) }
    }
    do {
        if tasks > 0 {
            let batcher = try AsyncSharedBatcher<Int>(segment: segment) { commit($0) }
            let finished = Finished()
            let answer: @Sendable (Int, Result<Int, any Error>) -> Void = { answered($0, $1) }
            let make: @Sendable (Int, Int) -> [UInt8] = { record($0, $1) }
            Task.detached {
                await submitFromTasks(batcher, tasks: tasks, ops: ops, record: make, answered: answer)
                finished.post()
            }
            finished.wait()
        } else {
            let batcher = try SharedBatcher<Int>(segment: segment, commit: commit)
            runThreads(threads) { t in
                for op in 0..<ops { answered(op, Result { try batcher.submit(record(t, op)) }) }
            }
        }
    } catch {
        say("attach-failed \(error)")
        exit(1)
    }
    segment.close()
    say(
        "summary ok=\(ok.load(ordering: .relaxed)) err=\(errors.load(ordering: .relaxed)) bad=\(bad.load(ordering: .relaxed))"
    )
    exit(bad.load(ordering: .relaxed) == 0 ? 0 : 1)

case "die-locked":
    // Takes the segment's mutex and SIGKILLs itself holding it, between two phase changes.
    guard let name = args.first else { fail("die-locked NAME") }
    do {
        try SharedSegment.open(name: name)._dieHoldingTheLock()
    } catch {
        fail("\(error)")
    }

case "die-repairing":
    // Dies inside the crash repair its first lock runs, at the point asked for.
    guard args.count == 2, let point = UInt32(args[1]) else { fail("die-repairing NAME POINT") }
    repairPoint = point
    SharedSegment._repairHook = { reached in
        if reached == repairPoint { kill(getpid(), SIGKILL) }
    }
    do {
        let segment = try SharedSegment.open(name: args[0])
        let coordinator = try SharedCoordinator<TestResult>(segment: segment, commit: commitTestBatch)
        _ = try coordinator.batch { section in try section.commit() }
        fail("survived: the repair never reached point \(point)")
    } catch {
        fail("survived: \(error)")
    }

case "hold-section":
    guard args.count >= 2 else { fail("hold-section NAME GO [--trigger]") }
    let go = args[1]
    let triggers = args.contains("--trigger")
    let finished = Finished()
    Task.detached {
        do {
            let segment = try SharedSegment.open(name: args[0])
            let coordinator = try AsyncSharedCoordinator<TestResult>(segment: segment) { commitTestBatch($0) }
            let result = try await coordinator.batch { section in
                try countIntoTestBatch(coordinator, coach: section.coach, first: section.isFirst)
                if triggers { section.trigger() }
                say("holding \(getpid())")
                while access(go, F_OK) != 0 { usleep(1000) }  // the test's go-ahead
                return try await section.commit()
            }
            segment.close()
            say("ok 0 total=\(result.total) size=\(result.batchSize)")
        } catch {
            say("err 0 \(error)")
        }
        finished.post()
    }
    finished.wait()
    exit(0)

case "create-die":
    guard let name = args.first else { fail("create-die NAME") }
    SharedSegment._createHook = { kill(getpid(), SIGKILL) }
    _ = try? SharedSegment.create(name: name, configuration: SharedBatchConfiguration())
    fail("survived the create hook")

case "idle":
    guard let name = args.first else { fail("idle NAME") }
    do {
        let segment = try SharedSegment.open(name: name)
        let coordinator = try SharedCoordinator<TestResult>(segment: segment, commit: commitTestBatch)
        _ = try coordinator.batch { section in try section.commit() }
        say("ready \(getpid())")
        while true { pause() }
    } catch {
        fail("\(error)")
    }

case "worker":
    guard args.count >= 2, let ops = Int(args[1]) else { fail("worker NAME OPS") }
    let name = args[0]
    let trigger = args.contains("--trigger")
    let announceAndDie = args.contains("--announce-in-commit-and-die")
    if option("--kill") == "held" {
        killHeld = true
        killAt = Int(option("--kill-at") ?? "0") ?? 0
    }
    let threads = Int(option("--threads") ?? "1") ?? 1
    if let p = option("--kill"), p != "held" {
        killPhase = phase(named: p)
        killAt = Int(option("--kill-at") ?? "0") ?? 0
        SharedSegment.phaseHook = { phase in
            if phase == killPhase && currentOp.load(ordering: .relaxed) == killAt { kill(getpid(), SIGKILL) }
        }
    }
    // The worker's thread ends holding the lock, its process lives on: recording `PHASE`, after
    // the snapshot (`--thread-dies-noting`) or before it (`--thread-dies-before-noting`, the
    // state of the step newer than the snapshot).
    if let p = option("--thread-dies-noting") ?? option("--thread-dies-before-noting") {
        killPhase = phase(named: p)
        killAt = Int(option("--kill-at") ?? "0") ?? 0
        undoCheckpoint = option("--thread-dies-before-noting") != nil
        SharedSegment._checkpointHook = { phase in
            if phase == killPhase && currentOp.load(ordering: .relaxed) == killAt {
                if undoCheckpoint { hookSegment?._undoCheckpoint() }
                // Said here: under ThreadSanitizer, joining a thread that ended so never returns.
                say("thread-ended")
                SharedSegment._exitThisThreadNow()
            }
        }
    }
    let foundCorrupt = option("--found-corrupt")
    if let p = foundCorrupt {
        killPhase = phase(named: p)
        killAt = Int(option("--kill-at") ?? "0") ?? 0
        SharedSegment.phaseHook = { phase in
            if phase == killPhase && currentOp.load(ordering: .relaxed) == killAt {
                hookSegment?._foundCorrupt("the test says so")
            }
        }
    }
    if let seconds = option("--watchdog").flatMap(Int32.init) {
        let watchdog = TestThread {
            var left = UInt32(seconds)
            while left > 0 { left = sleep(left) }
            exit(42)
        }
        _ = watchdog
    }
    let logFD: Int32 = option("--log").map { open($0, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600) } ?? -1
    let segment: SharedSegment
    do {
        segment = try SharedSegment.open(name: name)
    } catch {
        say("open-failed \(error)")
        exit(1)
    }
    hookSegment = segment
    let waiting: BatchWaiting = option("--waiting") == "adaptive" ? .adaptive : .strict
    let tasks = Int(option("--tasks") ?? "0") ?? 0
    let commit: @Sendable (borrowing SharedBatchContents) -> TestResult = { contents in
        if announceAndDie {
            announceNext?()
            kill(getpid(), SIGKILL)
        }
        let result = commitTestBatch(contents)
        let arena = contents.arena
        if logFD >= 0 && !arena.isEmpty {
            // One write for the whole batch (group commit).
            let n = write(logFD, arena.baseAddress, arena.count)
            precondition(n == arena.count, "short write to the log")
        }
        return result
    }
    let okCount = Atomic<Int>(0)
    let errCount = Atomic<Int>(0)
    let bad = Atomic<Int>(0)
    let pid = getpid()
    /// Checks an op's answer: my op is in the batch (size >= 1) and the batches I saw are ordered.
    @Sendable func answered(_ op: Int, _ answer: Result<TestResult, any Error>, last lastTotal: inout Int64) {
        switch answer {
        case .success(let result):
            if result.batchSize < 1 || result.total <= lastTotal || result.total < result.batchSize {
                say("bad \(op) total=\(result.total) size=\(result.batchSize) last=\(lastTotal)")
                bad.add(1, ordering: .relaxed)
            }
            lastTotal = result.total
            okCount.add(1, ordering: .relaxed)
            if ops <= 10 { say("ok \(op) total=\(result.total) size=\(result.batchSize)") }
        case .failure(let error):
            errCount.add(1, ordering: .relaxed)
            say("err \(op) \(error)")
        }
    }
    if tasks > 0 {
        let coordinator: AsyncSharedCoordinator<TestResult>
        do {
            coordinator = try AsyncSharedCoordinator<TestResult>(segment: segment, waiting: waiting) { commit($0) }
        } catch {
            say("attach-failed \(error)")
            exit(1)
        }
        let finished = Finished()
        let check: @Sendable (Int, Result<TestResult, any Error>, inout Int64) -> Void = { answered($0, $1, last: &$2) }
        let blockingAPI = option("--api") == "blocking"
        let blocking =
            blockingAPI ? try? SharedCoordinator<TestResult>(segment: segment, waiting: waiting) { commit($0) } : nil
        Task.detached {
            await runTasks(
                coordinator, blocking: blocking, tasks: tasks, ops: ops, trigger: trigger, pid: pid, answered: check)
            finished.post()
        }
        finished.wait()
    } else {
        let coordinator: SharedCoordinator<TestResult>
        do {
            coordinator = try SharedCoordinator<TestResult>(segment: segment, waiting: waiting) { commit($0) }
        } catch {
            say("attach-failed \(error)")
            exit(1)
        }
        announceNext = { coordinator.queueIn() }
        runThreads(threads) { t in
            var lastTotal: Int64 = 0
            for op in 0..<ops {
                if t == 0 { currentOp.store(op, ordering: .relaxed) }
                let answer = Result { () throws -> TestResult in
                    try coordinator.batch { section in
                        try countIntoTestBatch(coordinator, coach: section.coach, first: section.isFirst)
                        try coordinator.append(
                            record: TestRecord(pid: pid, thread: Int32(t), op: Int64(op)), in: section)
                        maybeDieHoldingTheSection(op)
                        if trigger { section.trigger() }
                        return try section.commit()
                    }
                }
                answered(op, answer, last: &lastTotal)
            }
        }
    }
    if foundCorrupt != nil {
        // Stopped using the segment, alive: its worker stays wherever it was, until killed.
        say("stopped")
        while true { pause() }
    }
    if option("--thread-dies-noting") != nil || option("--thread-dies-before-noting") != nil {
        // Its worker thread ended holding the lock: stay attached (the lease held) until killed.
        while true { pause() }
    }
    segment.close()  // detach cleanly: the test checks that only live processes stay attached
    say(
        "summary ok=\(okCount.load(ordering: .relaxed)) err=\(errCount.load(ordering: .relaxed)) bad=\(bad.load(ordering: .relaxed))"
    )
    exit(bad.load(ordering: .relaxed) == 0 ? 0 : 1)

default:
    fail("unknown command \(command)")
}

// batch-ipc-test-helper: one real worker process for BatchIPCTests (re-executed by the tests,
// never forked). Usage:
//
//   batch-ipc-test-helper worker NAME OPS [--kill PHASE] [--kill-at N] [--trigger] [--log PATH] [--threads T]
//       Opens segment NAME, runs OPS batches (per thread) adding 1 to the batch's sum and
//       appending a record (pid, thread, op); prints one line per op, then a summary line:
//         ok <op> total=<grand total> size=<batch size>     |  err <op> <error description>
//         summary ok=<n> err=<n>
//       --kill PHASE: SIGKILL itself when it reaches PHASE (queued, entered, waiting,
//       committing, done) during op --kill-at (default 0). --trigger: trigger before commit.
//       --log PATH: the commit function appends the batch's records to PATH with one write.
//   batch-ipc-test-helper create NAME
//       Creates segment NAME with the tests' process configuration (for manual runs).
//   batch-ipc-test-helper stat NAME
//       Prints the counters and a status line of segment NAME, without taking part.
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

func fail(_ message: String) -> Never {
    var text = "helper: \(message)\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(2)
}

func phase(named name: String) -> UInt32 {
    switch name {
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
    let threads = Int(option("--threads") ?? "1") ?? 1
    if let p = option("--kill") {
        killPhase = phase(named: p)
        killAt = Int(option("--kill-at") ?? "0") ?? 0
        SharedSegment.phaseHook = { phase in
            if phase == killPhase && currentOp.load(ordering: .relaxed) == killAt { kill(getpid(), SIGKILL) }
        }
    }
    let logFD: Int32 = option("--log").map { open($0, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600) } ?? -1
    let segment: SharedSegment
    do {
        segment = try SharedSegment.open(name: name)
    } catch {
        say("open-failed \(error)")
        exit(1)
    }
    let coordinator: SharedCoordinator<TestResult>
    do {
        coordinator = try SharedCoordinator<TestResult>(segment: segment) { contents in
            let result = commitTestBatch(contents)
            let arena = contents.arena
            if logFD >= 0 && !arena.isEmpty {
                // One write for the whole batch (group commit).
                let n = write(logFD, arena.baseAddress, arena.count)
                precondition(n == arena.count, "short write to the log")
            }
            return result
        }
    } catch {
        say("attach-failed \(error)")
        exit(1)
    }
    let okCount = Atomic<Int>(0)
    let errCount = Atomic<Int>(0)
    let bad = Atomic<Int>(0)
    let pid = getpid()
    let body: @Sendable (Int) -> Void = { t in
        var lastTotal: Int64 = 0
        for op in 0..<ops {
            if t == 0 { currentOp.store(op, ordering: .relaxed) }
            do {
                let result = try coordinator.batch { section in
                    try coordinator.withState(TestState.self, in: section) { state in
                        if section.isFirst { state.batchSum = 0 }
                        state.batchSum += 1
                    }
                    try coordinator.append(record: TestRecord(pid: pid, thread: Int32(t), op: Int64(op)), in: section)
                    if trigger { section.trigger() }
                    return try section.commit()
                }
                // Checks: my op is in the batch (size >= 1) and the batches I saw are ordered.
                if result.batchSize < 1 || result.total <= lastTotal || result.total < result.batchSize {
                    say("bad \(op) total=\(result.total) size=\(result.batchSize) last=\(lastTotal)")
                    bad.add(1, ordering: .relaxed)
                }
                lastTotal = result.total
                okCount.add(1, ordering: .relaxed)
                if ops <= 10 { say("ok \(op) total=\(result.total) size=\(result.batchSize)") }
            } catch {
                errCount.add(1, ordering: .relaxed)
                say("err \(op) \(error)")
            }
        }
    }
    runThreads(threads, body)
    segment.close()  // detach cleanly: the test checks that only live processes stay attached
    say(
        "summary ok=\(okCount.load(ordering: .relaxed)) err=\(errCount.load(ordering: .relaxed)) bad=\(bad.load(ordering: .relaxed))"
    )
    exit(bad.load(ordering: .relaxed) == 0 ? 0 : 1)

default:
    fail("unknown command \(command)")
}

// `spawn`: creates a segment, starts N workers (this binary, re-executed as `worker`), shows
// progress, waits, removes the segment, checks the log against what each worker was told, and
// prints the summary. Exit 0 only when the check passes.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The counters of a segment that the summary shows.
struct SegmentCounters {
    var batches = 0
    var workersServed = 0
    var crashesRecovered = 0
    var cancels = 0
}

/// What spawn needs from the segment it creates (implemented over BatchIPC in Shared.swift).
protocol DemoSegment: AnyObject {
    var name: String { get }
    /// The live counters.
    func counters() -> SegmentCounters
    /// Removes the segment's name.
    func remove()
}

/// One started worker.
struct WorkerProcess {
    let id: Int
    let pid: pid_t
    let crash: CrashPhase?
    let reportPath: String
    /// The wait status once reaped.
    var status: Int32?

    /// The signal that ended it, 0 if none did.
    var signal: Int32 {
        guard let s = status else { return 0 }
        return s & 0x7f
    }
    var killedBySIGKILL: Bool { signal == SIGKILL }
    /// Ended by a signal that stops a process from outside (kill, Ctrl-C, a closed terminal),
    /// not by one of its own faults (SIGSEGV, SIGILL of a trap, SIGABRT…).
    var killedFromOutside: Bool { [SIGKILL, SIGTERM, SIGINT, SIGHUP].contains(signal) }
    var exitedZero: Bool {
        guard let s = status else { return false }
        return (s & 0x7f) == 0 && ((s >> 8) & 0xff) == 0
    }
    var statusText: String {
        guard let s = status else { return "not reaped" }
        if (s & 0x7f) == 0 { return "exit \((s >> 8) & 0xff)" }
        return "signal \(s & 0x7f)"
    }
}

/// The signal (SIGINT, SIGTERM or SIGHUP) that interrupted spawn, 0 while none did: stop the
/// workers, clean up, exit 130.
nonisolated(unsafe) var spawnInterrupted: sig_atomic_t = 0

enum SpawnCommand {
    static let interruptions = [SIGINT, SIGTERM, SIGHUP]

    static func run(_ p: ParsedCommand) throws -> Int32 {
        let o = try SpawnOptions(p)
        // Ctrl-C and a closed terminal reach the workers too (same process group); spawn stays
        // to clean up. A reader of its output that went away must not kill it before that.
        for sig in interruptions { signal(sig) { spawnInterrupted = $0 } }
        signal(SIGPIPE, SIG_IGN)
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for sig in interruptions { sigaddset(&unblock, sig) }
        sigprocmask(SIG_UNBLOCK, &unblock, nil)
        var rng = SplitMix64(seed: o.seed ?? UInt64(Sys.now() * 1e9) ^ UInt64(getpid()))
        let segmentName = o.name ?? RunNames.segment(pid: getpid(), random: rng.next())

        // Where the log and the reports go: --dir, or a temporary directory tied to this spawn.
        if let dir = o.dir {
            var st = stat()
            guard stat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
                throw DemoFailure("--dir \(dir): not a directory (create it first)")
            }
        }
        let run = o.dir == nil ? try RunDirectory.create(segment: o.baseline == nil ? segmentName : nil) : nil
        defer { run?.finish(keep: o.keep) }
        let dir = o.dir ?? run!.path
        let logPath = "\(dir)/batch.log"
        // Created (emptied) here: a directory where it cannot be is found before any worker starts.
        do {
            close(try Sys.open(logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600))
        } catch {
            throw DemoFailure("\(o.dir != nil ? "--dir " : "")\(dir): cannot create the log there: \(error)")
        }

        // The segment.
        var segment: (any DemoSegment)?
        if o.baseline == nil {
            segment = try SharedSink.create(
                name: segmentName, workers: o.workers, coaches: o.coaches, recordSize: o.recordSize,
                liveness: o.liveness)
        }
        defer { segment?.remove() }

        // The crash plan: workers 0..<crashCount die at their phase.
        var phases: [CrashPhase?] = Array(repeating: nil, count: o.workers)
        if let crash = o.crash {
            for i in 0..<o.crashCount {
                phases[i] =
                    crash == "random"
                    ? CrashPhase.allCases[Int(rng.next() % UInt64(CrashPhase.allCases.count))]
                    : CrashPhase(rawValue: crash)!
            }
        }

        // The start barrier (StartBarrier.swift): the workers start at once, and die with spawn.
        let barrier = try StartBarrier()

        let exe = Sys.selfPath()
        var workers: [WorkerProcess] = []
        var failure: String?
        for i in 0..<o.workers {
            let report = "\(dir)/worker-\(i).report"
            var args = [
                "worker", "--id", "\(i)", "--log", logPath, "--report", report,
                "--ops", "\(o.ops)", "--record-size", "\(o.recordSize)", "--commit", o.mode.rawValue,
                "--commit-cost", "\(o.cost)",
            ]
            if let b = o.baseline {
                args += ["--baseline", b]
            } else {
                args += ["--segment", segmentName, "--coaches", "\(o.coaches)", "--liveness", "\(o.liveness)"]
                if let y = o.yieldBudget { args += ["--yield-budget", "\(y)"] }
                if let a = o.assumedCommitCost { args += ["--assume-commit-cost", "\(a)"] }
            }
            if let phase = phases[i] {
                args += ["--crash", phase.rawValue, "--crash-after", "\(o.crashAfter ?? o.ops / 2)"]
            }
            do {
                workers.append(
                    WorkerProcess(id: i, pid: try Sys.spawn(exe, args), crash: phases[i], reportPath: report))
            } catch {
                failure = "\(error)"
                break
            }
        }
        barrier.workersStarted()

        // Wait until every worker is ready (or gone), then start them all at once.
        let setupDeadline = Sys.now() + 30
        var ready = 0
        var gone = 0  // workers that exited before getting ready (setup failed)
        while ready + gone < workers.count && Sys.now() < setupDeadline && spawnInterrupted == 0 {
            guard let n = barrier.readyWorkers(waiting: 50) else { break }  // no worker holds its end
            ready += n
            for i in workers.indices where workers[i].status == nil {
                var status: Int32 = 0
                if waitpid(workers[i].pid, &status, WNOHANG) == workers[i].pid {
                    workers[i].status = status
                    gone += 1
                }
            }
        }
        let start = Sys.now()
        barrier.release()

        // Run: reap, show progress, enforce the timeout.
        let progress = Sys.isTerminal(2) && !o.quiet && !o.json
        let deadline = start + Double(o.timeout)
        var timedOut = false
        var lastProgress = 0.0
        let totalOps = o.workers * o.ops
        while workers.contains(where: { $0.status == nil }) {
            for i in workers.indices where workers[i].status == nil {
                var status: Int32 = 0
                let r = waitpid(workers[i].pid, &status, WNOHANG)
                if r == workers[i].pid { workers[i].status = status }
            }
            let now = Sys.now()
            if spawnInterrupted != 0 {
                for w in workers where w.status == nil { kill(w.pid, SIGKILL) }
            }
            if now > deadline && !timedOut {
                timedOut = true
                for w in workers where w.status == nil { kill(w.pid, SIGKILL) }
            }
            if progress && now - lastProgress >= 0.2 {
                lastProgress = now
                let done = opsDone(workers)
                let batches = segment?.counters().batches ?? done
                let rate = Double(done) / max(now - start, 1e-9)
                try? Sys.writeAll(
                    2, "\r\u{1B}[K  ops \(done)/\(totalOps)  batches \(batches)  \(Int(rate)) ops/s", what: "stderr")
            }
            if workers.contains(where: { $0.status == nil }) { Sys.sleep(0.005) }
        }
        let elapsed = Sys.now() - start
        if progress { try? Sys.writeAll(2, "\r\u{1B}[K", what: "stderr") }

        if spawnInterrupted != 0 {
            let name = [SIGINT: "SIGINT", SIGTERM: "SIGTERM", SIGHUP: "SIGHUP"][spawnInterrupted] ?? "a signal"
            printError("\(toolName): interrupted by \(name); workers stopped, segment and temporary files removed")
            return 130
        }
        let counters = segment?.counters()
        let result = try Check.run(
            options: o, workers: workers, logPath: logPath, elapsed: elapsed, counters: counters,
            timedOut: timedOut, setupFailure: failure, readyCount: ready)
        if !o.quiet {
            if o.json {
                printOut(result.json(options: o, segmentName: o.baseline == nil ? segmentName : nil).text)
            } else {
                printOut(result.human(options: o, segmentName: o.baseline == nil ? segmentName : nil))
                if o.keep || o.dir != nil { printOut("log: \(logPath)") }
            }
        }
        return result.ok ? 0 : 1
    }

    /// Operations whose outcome the workers reported so far (report lines are fixed width).
    static func opsDone(_ workers: [WorkerProcess]) -> Int {
        var total = 0
        for w in workers {
            var st = stat()
            if stat(w.reportPath, &st) == 0 { total += Int(st.st_size) / ReportLine.width }
        }
        return total
    }
}

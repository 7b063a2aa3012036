// `spawn`: creates the database (and in batched mode the segment), starts N workers (this
// binary again, as `worker`) behind a start line, kills the --crash victims at random moments,
// reaps everyone within --timeout, then checks the database against the reports and prints the
// summary. Exit 0 only when the check passes.

import BatchIPC

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// One started worker.
struct WorkerProcess {
    let id: Int
    let pid: pid_t
    let reportPath: String
    /// Crash injection: spawn kills it once its report has this many lines.
    let killAtLine: Int?
    /// Whether spawn sent it SIGKILL (crash injection, timeout or interruption).
    var killed = false
    /// The wait status once reaped.
    var status: Int32?

    var signal: Int32 { (status ?? 0) & 0x7f }
    var exitedZero: Bool { status == 0 }
    var statusText: String {
        guard let status else { return "not reaped" }
        return signal == 0 ? "exit \((status >> 8) & 0xff)" : "signal \(signal)"
    }
}

/// SIGINT, SIGTERM or SIGHUP, once one arrived: kill the workers, clean up, exit 130.
nonisolated(unsafe) private var interruption: sig_atomic_t = 0

enum SpawnCommand {
    static func run(_ o: SpawnOptions) throws -> Int32 {
        for sig in [SIGINT, SIGTERM, SIGHUP] { signal(sig) { interruption = $0 } }
        signal(SIGPIPE, SIG_IGN)
        var random = SplitMix64(seed: o.seed ?? UInt64(Sys.now() * 1e9) ^ UInt64(getpid()))

        let directory = try Sys.makeTemporaryDirectory("\(toolName)-\(getpid())")
        defer { Sys.removeDirectory(directory) }
        let database = o.database ?? "\(directory)/rows.db"
        // Held open until the check: no worker is the database's last connection, so none pays
        // the checkpoint SQLite runs when the last one closes inside the timed part.
        let keeper = try Database.create(path: database)

        var segment: SharedSegment?
        if o.work.mode == .batched {
            let name = "/\(toolName)-\(getpid())-\(String(random.next() & 0xFFFF_FFFF, radix: 16))"
            segment = try SharedSegment.create(
                name: name,
                configuration: BatchSegment.configuration(
                    workers: o.workers, tasks: o.work.tasks, payload: o.work.payload))
        }
        defer {
            if let segment {
                try? SharedSegment.unlink(name: segment.name)
                segment.close()
            }
        }

        // The crash plan: K distinct workers, each killed once its report has a random number of
        // lines (a row is two lines: submitted, then its outcome), so after it started inserting.
        var victims = Set<Int>()
        while victims.count < o.crash { victims.insert(Int(random.next() % UInt64(o.workers))) }
        let lastLine = max(1, 2 * o.work.rows - 1)

        let startLine = try StartLine()
        var workers: [WorkerProcess] = []
        var setupFailure: String?
        for id in 0..<o.workers {
            let report = "\(directory)/worker-\(id).report"
            var args = ["worker", "--id", "\(id)", "--db", database, "--report", report] + o.work.arguments
            if let segment { args += ["--segment", segment.name] }
            let killAt = victims.contains(id) ? 1 + Int(random.next() % UInt64(lastLine)) : nil
            do {
                let pid = try Sys.spawn(Sys.executablePath(), args)
                workers.append(WorkerProcess(id: id, pid: pid, reportPath: report, killAtLine: killAt))
            } catch {
                setupFailure = "\(error)"
                break
            }
        }
        startLine.workersStarted()
        let ready = waitUntilReady(startLine, &workers)
        let start = Sys.now()
        startLine.release()
        let timedOut = reap(&workers, deadline: start + Double(o.timeout))
        let elapsed = Sys.now() - start

        if interruption != 0 {
            let name = [SIGINT: "SIGINT", SIGTERM: "SIGTERM", SIGHUP: "SIGHUP"][interruption] ?? "a signal"
            printError("\(toolName): interrupted by \(name); workers killed, temporary files removed")
            return 130
        }
        var check = try Check.run(options: o, workers: workers, database: keeper, elapsed: elapsed)
        if let setupFailure { check.problems.append("could not start every worker: \(setupFailure)") }
        if ready < o.workers && setupFailure == nil && o.crash == 0 {
            check.problems.append("only \(ready) of \(o.workers) workers got ready")
        }
        if timedOut { check.problems.append("timed out after \(o.timeout) s: workers killed (a hang?)") }
        printOut(o.json ? check.json(o).text : check.human(o, database: o.database))
        return check.ok ? 0 : 1
    }

    /// Waits (30 s at most) until every worker said it is ready or is gone. Returns how many are ready.
    private static func waitUntilReady(_ startLine: StartLine, _ workers: inout [WorkerProcess]) -> Int {
        let deadline = Sys.now() + 30
        var ready = 0
        while ready + workers.filter({ $0.status != nil }).count < workers.count && Sys.now() < deadline
            && interruption == 0
        {
            guard let n = startLine.readyCount(waiting: 50) else { break }
            ready += n
            reapExited(&workers)
        }
        return ready
    }

    /// Reaps every worker; kills the crash victims when their report reaches their line, and
    /// everyone on interruption or after `deadline`. Returns whether the deadline passed.
    private static func reap(_ workers: inout [WorkerProcess], deadline: Double) -> Bool {
        var timedOut = false
        while workers.contains(where: { $0.status == nil }) {
            reapExited(&workers)
            let stopAll = interruption != 0 || Sys.now() > deadline
            timedOut = timedOut || (interruption == 0 && Sys.now() > deadline)
            for i in workers.indices where workers[i].status == nil && !workers[i].killed {
                let due = workers[i].killAtLine.map { Sys.fileSize(workers[i].reportPath) / ReportLine.width >= $0 }
                if stopAll || due == true {
                    kill(workers[i].pid, SIGKILL)
                    workers[i].killed = true
                }
            }
            // Polling: 2 ms between looks at the reports and the exits; the run is bounded by deadline.
            if workers.contains(where: { $0.status == nil }) { Sys.sleep(0.002) }
        }
        return timedOut
    }

    private static func reapExited(_ workers: inout [WorkerProcess]) {
        for i in workers.indices where workers[i].status == nil {
            var status: Int32 = 0
            if waitpid(workers[i].pid, &status, WNOHANG) == workers[i].pid { workers[i].status = status }
        }
    }
}

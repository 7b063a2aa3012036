// `batch-shm-demo spawn`, run as a user runs it: defaults, each option, crash injection at every
// phase. Serialized: each test starts several processes, and the machine is small.

import Testing

@testable import batch_shm_demo

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

@Suite("batch-shm-demo spawn", .serialized)
struct SpawnTests {
    /// Runs spawn with `--json` and returns the parsed object, expecting exit 0 and `ok`.
    func spawnJSON(_ args: [String], expectOK: Bool = true) -> FlatJSON {
        let r = Demo.run(["spawn"] + args + ["--json", "--timeout", "40"])
        let json = FlatJSON(text: r.stdout)
        if expectOK {
            #expect(r.status == 0, "\(args): \(r.description)")
            #expect(json.bool("ok") == true, "\(args): \(r.stdout)")
        }
        #expect(!r.stdout.contains("\r"), "no progress line when piped")
        return json
    }

    @Test(.timeLimit(.minutes(1)))
    func defaultsFinishAndPrintOK() {
        let r = Demo.run(["spawn"])
        #expect(r.status == 0, "\(r.description)")
        #expect(r.stdout.hasSuffix("ok\n"), "\(r.stdout)")
        #expect(r.stdout.contains("4 workers × 250 ops"))
        #expect(r.stdout.contains("lost 0, duplicated 0"))
        #expect(r.stderr.isEmpty, "nothing on stderr when it is not a terminal: \(r.stderr)")
    }

    @Test(.timeLimit(.minutes(1)))
    func jsonHasEveryKey() {
        let j = spawnJSON(["3", "--ops", "40"])
        for key in [
            "workers", "coaches", "ops", "batches", "mean_batch_size", "ops_per_second", "acknowledged", "in_log",
            "lost", "duplicated", "errors", "crashes_injected", "crashes_recovered", "ok",
        ] {
            #expect(j.raw(key) != nil, "missing \(key) in \(j.text)")
        }
        #expect(j.int("workers") == 3)
        #expect(j.int("coaches") == 1)
        #expect(j.int("ops") == 120)
        #expect(j.int("acknowledged") == 120)
        #expect(j.int("in_log") == 120)
        #expect(j.int("lost") == 0)
        #expect(j.int("duplicated") == 0)
        #expect(j.int("crashes_injected") == 0)
        #expect((j.int("batches") ?? 0) >= 1 && (j.int("batches") ?? 0) <= 120)
        #expect(j.int("errors", "worker_crashed") == 0)
    }

    @Test(.timeLimit(.minutes(1)))
    func baselineFlock() {
        let j = spawnJSON(["3", "--ops", "30", "--baseline", "flock"])
        #expect(j.int("ops") == 90)
        #expect(j.int("batches") == 90)
        #expect(j.double("mean_batch_size") == 1.0)
        #expect(j.int("acknowledged") == 90)
    }

    @Test(.timeLimit(.minutes(1)))
    func everySizingOption() {
        let name = Demo.segmentName("opts")
        let j = spawnJSON([
            "3", "-n", "20", "-c", "2", "-s", "100", "--commit", "simulate", "--commit-cost", "50",
            "--liveness", "10", "--yield-budget", "0", "-t", "30", "--seed", "7", "--name", name,
        ])
        #expect(j.int("workers") == 3)
        #expect(j.int("coaches") == 2)
        #expect(j.int("ops") == 60)
        #expect(j.int("record_size") == 100)
        #expect(j.text.contains("\"commit\":\"simulate\""))
        #expect(j.text.contains("\"name\":\"\(name)\""))
        #expect(!Demo.exists("/dev/shm" + name), "spawn removes its segment")
    }

    /// `--assume-commit-cost` reaches the workers' waiting policy: a commit assumed to cost less
    /// than a lock handover never waits for announced workers, so every worker commits alone
    /// (it keeps the mutex from its enter to its exit) — although the commit really takes
    /// 200 µs, which, measured, makes batches of 2–4 here.
    @Test(.timeLimit(.minutes(1)))
    func assumedCommitCostReachesTheWorkers() {
        let args = ["4", "--ops", "50", "--commit", "simulate", "--commit-cost", "200"]
        let cheap = spawnJSON(args + ["--assume-commit-cost", "1000"])
        #expect(cheap.int("batches") == 200, "\(cheap.text)")
        #expect(cheap.double("mean_batch_size") == 1.0)
        #expect(cheap.int("acknowledged") == 200)
    }

    @Test(.timeLimit(.minutes(1)))
    func dirKeepsTheLog() throws {
        let dir = Demo.tempDirectory()
        defer { Sys.removeDirectory(dir) }
        let j = spawnJSON(["2", "--ops", "25", "-s", "48", "--dir", dir])
        var st = stat()
        #expect(stat("\(dir)/batch.log", &st) == 0)
        let batches = j.int("batches") ?? -1
        #expect(Int(st.st_size) == batches * 32 + 50 * 48, "log size: \(st.st_size), batches \(batches)")
        #expect(Demo.exists("\(dir)/worker-0.report"))
    }

    @Test(.timeLimit(.minutes(1)))
    func keepPrintsTheLogPath() throws {
        let r = Demo.run(["spawn", "2", "--ops", "10", "--keep"])
        #expect(r.status == 0, "\(r.description)")
        let line = r.stdout.split(separator: "\n").first { $0.hasPrefix("log: ") }
        #expect(line != nil, "\(r.stdout)")
        if let line {
            let path = String(line.dropFirst(5))
            #expect(Demo.exists(path))
            let dir = String(path[..<path.lastIndex(of: "/")!])
            for f in ["batch.log", "worker-0.report", "worker-1.report"] { unlink("\(dir)/\(f)") }
            rmdir(dir)
        }
    }

    /// On a terminal (a pty from script(1), where installed) spawn shows a progress line.
    @Test(.timeLimit(.minutes(1)))
    func progressLineOnATerminal() {
        guard access("/usr/bin/script", X_OK) == 0 else { return }
        let command = "\(Demo.binary) spawn 2 --ops 50 --commit simulate --commit-cost 200"
        // script(1) writes what the terminal shows, stdout and stderr of the demo, to its stdout.
        let r = Demo.run(["-qec", command, "/dev/null"], program: "/usr/bin/script", seconds: 40)
        #expect(r.status == 0, "\(r.description)")
        let text = r.stdout
        #expect(text.contains("\r\u{1B}[K  ops "), "no progress line on a terminal: \(text)")
        #expect(text.contains("ok"))
    }

    @Test(.timeLimit(.minutes(1)))
    func quietPrintsNothing() {
        let r = Demo.run(["spawn", "2", "--ops", "10", "--quiet"])
        #expect(r.status == 0, "\(r.description)")
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.isEmpty)
    }

    @Test(.timeLimit(.minutes(1)))
    func interruptStopsWorkersAndCleansUp() {
        let name = Demo.segmentName("int")
        let started = Demo.start([
            "spawn", "2", "--ops", "1000000", "--commit", "simulate", "--commit-cost", "1000", "--name", name,
        ])
        #expect(poll(seconds: 20) { Demo.exists("/dev/shm" + name) })
        kill(started.pid, SIGINT)
        let r = Demo.finish(started, seconds: 20)
        #expect(r.status == 130, "\(r.description)")
        #expect(r.stderr.contains("interrupted"))
        #expect(!Demo.exists("/dev/shm" + name))
    }

    @Test(.timeLimit(.minutes(1)))
    func timeoutKillsTheWorkersAndFails() {
        let r = Demo.run([
            "spawn", "2", "--ops", "1000000", "--commit", "simulate", "--commit-cost", "1000", "--timeout", "1",
            "--json",
        ])
        let j = FlatJSON(text: r.stdout)
        #expect(r.status == 1, "\(r.description)")
        #expect(j.bool("ok") == false)
        #expect(j.int("errors", "timeout") == 1)
        #expect(j.int("lost") == 0, "what was acknowledged before the timeout is still in the log")
        #expect(r.stdout.contains("timed out"))
    }

    @Test(.timeLimit(.minutes(1)))
    func existingSegmentNameIsARuntimeFailure() {
        let name = Demo.segmentName("taken")
        let fd = open("/dev/shm" + name, O_CREAT | O_RDWR, 0o600)
        #expect(fd >= 0)
        close(fd)
        defer { unlink("/dev/shm" + name) }
        let r = Demo.run(["spawn", "2", "--ops", "10", "--name", name])
        #expect(r.status == 1, "\(r.description)")
        #expect(r.stderr.hasPrefix("Error: "), "\(r.stderr)")
        #expect(r.stderr.contains(name))
    }

    /// A --dir that exists but where the log cannot be created is found before any worker
    /// starts: a clear error, no FAILED summary. (/proc refuses new files even to root; a
    /// read-only directory refuses them to everyone else.)
    @Test(.timeLimit(.minutes(1)))
    func unwritableDirIsFoundBeforeTheWorkersStart() {
        var dirs = ["/proc"]
        let readOnly = Demo.tempDirectory()
        defer { Sys.removeDirectory(readOnly) }
        chmod(readOnly, 0o500)
        if geteuid() != 0 { dirs.append(readOnly) }
        for dir in dirs {
            let r = Demo.run(["spawn", "2", "--ops", "10", "--dir", dir])
            #expect(r.status == 1, "\(dir): \(r.description)")
            #expect(r.stderr.hasPrefix("Error: --dir \(dir): cannot create the log there"), "\(dir): \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(dir): no summary: \(r.stdout)")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func badDirIsARuntimeFailure() {
        let r = Demo.run(["spawn", "2", "--ops", "10", "--dir", "/nonexistent/batch-shm-demo"])
        #expect(r.status == 1, "\(r.description)")
        #expect(r.stderr.hasPrefix("Error: "))
    }
}

// The demo's processes, whatever happens to them: spawn hung up or killed, a worker killed from
// outside, a worker whose spawn is gone before the start. Workers never outlive their spawn, and
// what a killed spawn leaves (its segment, its temporary directory) is found and removed.

import Testing

@testable import batch_shm_demo

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

@Suite("batch-shm-demo process lifecycle", .serialized)
struct LifecycleTests {
    func entries(_ dir: String) -> [String] { Sys.directoryEntries(dir) }

    /// Runs `body` with a spawn whose temporary directory goes to a private TMPDIR, its workers
    /// running; then kills whatever is left and removes the segment and that TMPDIR.
    func withSpawnInPrivateTemp(_ tag: String, _ body: (LongSpawn, _ tmp: String, _ workers: [pid_t]) -> Void) {
        let tmp = Demo.tempDirectory()
        let spawn = LongSpawn(name: Demo.segmentName(tag), environment: ["TMPDIR": tmp])
        defer {
            spawn.killAll()
            _ = Demo.run(["unlink", "-f", spawn.name])
            Sys.removeDirectory(tmp)
        }
        let workers = spawn.workerPIDs()
        #expect(workers.count == 2)
        #expect(entries(tmp).count == 1, "spawn's temporary directory is in TMPDIR: \(entries(tmp))")
        body(spawn, tmp, workers)
    }

    /// SIGKILL of spawn alone; its workers must follow it.
    func killSpawnAlone(_ spawn: LongSpawn, _ workers: [pid_t]) {
        kill(spawn.pid, SIGKILL)
        _ = Demo.finish(spawn.started, seconds: 10)
        #expect(poll { workers.allSatisfy { !Sys.isAlive($0) } }, "workers outlived their spawn")
        #expect(Demo.exists("/dev/shm" + spawn.name))
    }

    @Test(.timeLimit(.minutes(1)))
    func hangupStopsTheWorkersAndCleansUp() {
        withSpawnInPrivateTemp("hup") { spawn, tmp, workers in
            kill(spawn.pid, SIGHUP)
            let r = Demo.finish(spawn.started, seconds: 20)
            #expect(r.status == 130, "\(r.description)")
            #expect(r.stderr.contains("interrupted by SIGHUP"), "\(r.stderr)")
            #expect(!Demo.exists("/dev/shm" + spawn.name))
            #expect(entries(tmp).isEmpty, "left in TMPDIR: \(entries(tmp))")
            #expect(workers.allSatisfy { !Sys.isAlive($0) })
        }
    }

    /// SIGKILL of spawn: its workers die with it (parent-death signal), and `clean`, without -f,
    /// removes its segment and its temporary directory.
    @Test(.timeLimit(.minutes(1)))
    func killedSpawnLeavesWhatCleanRemoves() {
        withSpawnInPrivateTemp("kill-clean") { spawn, tmp, workers in
            killSpawnAlone(spawn, workers)
            let r = Demo.run(["clean"], environment: ["TMPDIR": tmp])
            #expect(r.status == 0, "\(r.description)")
            #expect(r.stdout.contains("removed segment \(spawn.name)"), "\(r.stdout)")
            #expect(r.stdout.contains("removed directory \(tmp)/"), "\(r.stdout)")
            #expect(!Demo.exists("/dev/shm" + spawn.name))
            #expect(entries(tmp).isEmpty, "left in TMPDIR: \(entries(tmp))")
            let again = Demo.run(["clean"], environment: ["TMPDIR": tmp])
            #expect(again.status == 0 && !again.stdout.contains(spawn.name), "\(again.description)")
        }
    }

    /// SIGKILL of spawn: `stat` finds the segment stale and names the directory it left; `unlink`
    /// without -f removes both.
    @Test(.timeLimit(.minutes(1)))
    func killedSpawnLeavesWhatUnlinkRemoves() {
        withSpawnInPrivateTemp("kill-unlink") { spawn, tmp, workers in
            let dir = tmp + "/" + (entries(tmp).first ?? "?")
            killSpawnAlone(spawn, workers)
            let stat = Demo.run(["stat", spawn.name], environment: ["TMPDIR": tmp])
            #expect(stat.status == 0, "\(stat.description)")
            #expect(stat.stdout.contains("stale"), "\(stat.stdout)")
            #expect(stat.stdout.contains(dir), "stat does not name the directory spawn left: \(stat.stdout)")
            let r = Demo.run(["unlink", spawn.name], environment: ["TMPDIR": tmp])
            #expect(r.status == 0, "\(r.description)")
            #expect(!Demo.exists("/dev/shm" + spawn.name))
            #expect(entries(tmp).isEmpty, "left in TMPDIR: \(entries(tmp))")
        }
    }

    /// `clean` removes a stale segment with spawn's default name even without a leftover
    /// directory (a run with --dir), and leaves other stale segments alone.
    @Test(.timeLimit(.minutes(1)))
    func cleanRemovesOnlyWhatRunsLeft() {
        let dirs = (0..<3).map { _ in Demo.tempDirectory() }
        let tmp = dirs[2]
        defer { for dir in dirs { Sys.removeDirectory(dir) } }
        let other = LongSpawn(name: Demo.segmentName("not-a-run"), ["--dir", dirs[0]])
        let run = LongSpawn(defaultNameWith: ["--dir", dirs[1]])
        let name = run.name
        defer {
            if !name.isEmpty { _ = Demo.run(["unlink", "-f", name]) }
            _ = Demo.run(["unlink", "-f", other.name])
        }
        #expect(!name.isEmpty && run.workerPIDs().count == 2 && other.workerPIDs().count == 2)
        run.killAll()
        other.killAll()
        #expect(poll { FlatJSON(text: Demo.run(["stat", other.name, "--json"]).stdout).bool("stale") == true })

        let r = Demo.run(["clean"], environment: ["TMPDIR": tmp])
        #expect(r.status == 0, "\(r.description)")
        #expect(r.stdout.contains("removed segment \(name) (stale)"), "\(r.stdout)")
        #expect(!Demo.exists("/dev/shm" + name))
        #expect(Demo.exists("/dev/shm" + other.name), "clean removed a segment that is not a run's")
    }

    /// A worker whose spawn is gone before the start (the ready pipe has no reader) exits with
    /// an error instead of dying of SIGPIPE.
    @Test(.timeLimit(.minutes(1)))
    func aWorkerWithoutItsSpawnDoesNotDieOfSIGPIPE() {
        let dir = Demo.tempDirectory()
        defer { Sys.removeDirectory(dir) }
        // The "ready" end: a socket whose peer is closed (made close-on-exec atomically, so that
        // no other test's child holds the peer open); "go": /dev/null.
        var pair: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0)
        close(pair[1])
        let go = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            close(pair[0])
            close(go)
        }
        let started = Demo.start(
            [
                "worker", "--baseline", "flock", "--id", "0", "--ops", "1", "--log", dir + "/batch.log", "--report",
                dir + "/worker-0.report",
            ],
            environment: ["BATCH_SHM_DEMO_SYNC": "3,4,\(getpid())"], descriptors: [(3, go), (4, pair[0])])
        let r = Demo.finish(started, seconds: 20)
        #expect(!r.signaled && r.status == 1, "\(r.description)")
        #expect(r.stderr.contains("spawn is gone"), "\(r.stderr)")
    }

    /// A worker killed from outside (not by --crash): every acknowledged record is in the log
    /// exactly once, so the run is ok; the record it was appending has an unknown fate.
    @Test(.timeLimit(.minutes(1)), arguments: [true, false])
    func aWorkerKilledFromOutsideIsNotAFailure(json: Bool) {
        let name = Demo.segmentName("outside")
        let started = Demo.start(
            [
                "spawn", "3", "--ops", "2000", "--commit", "simulate", "--commit-cost", "1000", "--name", name,
                "--timeout", "50",
            ] + (json ? ["--json"] : []))
        defer { _ = Demo.run(["unlink", "-f", name]) }
        let workers = Demo.participantPIDs(of: name, count: 3)
        #expect(workers.count == 3)
        if let victim = workers.first { kill(victim, SIGKILL) }
        let r = Demo.finish(started, seconds: 50)
        #expect(r.status == 0, "\(r.description)")
        if json {
            let j = FlatJSON(text: r.stdout)
            #expect(j.bool("ok") == true, "\(r.stdout)")
            #expect(j.int("killed_from_outside") == 1, "\(r.stdout)")
            #expect(j.int("fate_unknown") == 1, "\(r.stdout)")
            #expect(j.int("lost") == 0 && j.int("duplicated") == 0 && j.int("unexpected_in_log") == 0)
        } else {
            #expect(r.stdout.hasSuffix("\nok\n"), "\(r.stdout)")
            #expect(r.stdout.contains("killed       1 worker from outside"), "\(r.stdout)")
            #expect(r.stdout.contains("fate unknown 1"), "\(r.stdout)")
        }
    }
}

// `stat` and `unlink` on a live segment (a spawn running) and on a stale one (spawn and its
// workers killed).

import Testing

@testable import batch_shm_demo

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

@Suite("batch-shm-demo stat and unlink", .serialized)
struct SegmentTests {
    /// Starts a long spawn on segment `name` in its own process group and waits until its
    /// workers take part. Returns the spawn's pid.
    /// Its log and reports go to `dir` (the spawn is killed, so it cannot clean up itself).
    func startLongSpawn(_ name: String, dir: String) -> (pid: pid_t, out: String, err: String) {
        let started = Demo.start(
            [
                "spawn", "2", "--ops", "1000000", "--commit", "simulate", "--commit-cost", "2000",
                "--name", name, "--timeout", "50", "--quiet", "--dir", dir,
            ], newGroup: true)
        let deadline = Sys.now() + 20
        while Sys.now() < deadline {
            let r = Demo.run(["stat", name, "--json"])
            if r.status == 0, (FlatJSON(text: r.stdout).int("live_participants") ?? 0) >= 2 { break }
            var ts = timespec(tv_sec: 0, tv_nsec: 20_000_000)
            nanosleep(&ts, nil)
        }
        return started
    }

    func killGroup(_ started: (pid: pid_t, out: String, err: String)) {
        killpg(started.pid, SIGKILL)
        _ = Demo.finish(started, seconds: 10)
    }

    @Test(.timeLimit(.minutes(1)))
    func liveThenStale() {
        let name = Demo.segmentName("stat")
        let dir = Demo.tempDirectory()
        defer { Sys.removeDirectory(dir) }
        let spawn = startLongSpawn(name, dir: dir)
        defer {
            killpg(spawn.pid, SIGKILL)
            _ = Demo.run(["unlink", name, "--force"])
        }

        // Live.
        let stat = Demo.run(["stat", name])
        #expect(stat.status == 0, "\(stat.description)")
        #expect(stat.stdout.contains("segment      \(name)"))
        #expect(stat.stdout.contains("coach 0"))
        #expect(stat.stdout.contains("participant  slot"))
        #expect(stat.stdout.contains("(alive)"))
        #expect(stat.stdout.contains("counters     batches"))
        #expect(stat.stdout.contains("live: "))
        let json = FlatJSON(text: Demo.run(["stat", name, "--json"]).stdout)
        #expect(json.bool("stale") == false)
        #expect((json.int("counters", "batches") ?? -1) >= 0)
        #expect(json.int("configuration", "coaches") == 1)

        let refused = Demo.run(["unlink", name])
        #expect(refused.status == 1, "\(refused.description)")
        #expect(refused.stderr.contains("live participants"), "\(refused.stderr)")
        #expect(Demo.exists("/dev/shm" + name))

        // Stale: spawn and its workers are gone; the segment stays.
        killGroup(spawn)
        #expect(Demo.exists("/dev/shm" + name))
        // SIGKILL is asynchronous: wait (bounded) until stat sees every participant dead.
        var stale = Demo.run(["stat", name, "--json"])
        let deadline = Sys.now() + 10
        while FlatJSON(text: stale.stdout).bool("stale") != true && Sys.now() < deadline {
            var ts = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            nanosleep(&ts, nil)
            stale = Demo.run(["stat", name, "--json"])
        }
        #expect(stale.status == 0, "\(stale.description)")
        let sj = FlatJSON(text: stale.stdout)
        #expect(sj.bool("stale") == true, "\(stale.stdout)")
        #expect(sj.int("live_participants") == 0)
        #expect(Demo.run(["stat", name]).stdout.contains("(dead)"))

        let removed = Demo.run(["unlink", name])
        #expect(removed.status == 0, "\(removed.description)")
        #expect(!Demo.exists("/dev/shm" + name))

        let gone = Demo.run(["stat", name])
        #expect(gone.status == 1)
        #expect(gone.stderr.hasPrefix("Error: "))
        #expect(Demo.run(["unlink", name]).status == 1)
    }

    @Test(.timeLimit(.minutes(1)))
    func forceRemovesALiveSegment() {
        let name = Demo.segmentName("force")
        let dir = Demo.tempDirectory()
        defer { Sys.removeDirectory(dir) }
        let spawn = startLongSpawn(name, dir: dir)
        defer { killGroup(spawn) }
        #expect(Demo.exists("/dev/shm" + name))
        let r = Demo.run(["unlink", "-f", name])
        #expect(r.status == 0, "\(r.description)")
        #expect(!Demo.exists("/dev/shm" + name))
    }

    @Test(.timeLimit(.minutes(1)))
    func notASegment() {
        let name = Demo.segmentName("junk")
        let fd = open("/dev/shm" + name, O_CREAT | O_RDWR, 0o600)
        #expect(fd >= 0)
        _ = write(fd, "not a segment, just some bytes that are long enough to be a header? no", 70)
        close(fd)
        defer { unlink("/dev/shm" + name) }
        let s = Demo.run(["stat", name])
        #expect(s.status == 1, "\(s.description)")
        #expect(s.stderr.hasPrefix("Error: "))
        let u = Demo.run(["unlink", name])
        #expect(u.status == 0, "\(u.description)")
        #expect(!Demo.exists("/dev/shm" + name))
    }

    @Test(.timeLimit(.minutes(1)))
    func badNameIsAUsageError() {
        #expect(Demo.run(["stat", "no-slash"]).status == 64)
        #expect(Demo.run(["unlink", "/a/b"]).status == 64)
    }
}

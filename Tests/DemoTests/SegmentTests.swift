// `list`, `stat` and `unlink` on a live segment (a spawn running), on a stale one (spawn and its
// workers killed) and on corrupt ones.

import Testing

@testable import batch_shm_demo

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

@Suite("batch-shm-demo list, stat and unlink", .serialized)
struct SegmentTests {
    @Test(.timeLimit(.minutes(1)))
    func liveThenStale() {
        let name = Demo.segmentName("stat")
        let dir = Demo.tempDirectory()
        defer { Sys.removeDirectory(dir) }
        let spawn = LongSpawn(name: name, ["--quiet", "--dir", dir])
        defer {
            spawn.killAll()
            _ = Demo.run(["unlink", name, "--force"])
        }
        #expect(spawn.workerPIDs().count == 2)

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
        spawn.killAll()
        #expect(Demo.exists("/dev/shm" + name))
        // SIGKILL is asynchronous: wait (bounded) until stat sees every participant dead.
        var stale = Demo.run(["stat", name, "--json"])
        poll {
            stale = Demo.run(["stat", name, "--json"])
            return FlatJSON(text: stale.stdout).bool("stale") == true
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
        let spawn = LongSpawn(name: name, ["--quiet", "--dir", dir])
        defer { spawn.killAll() }
        #expect(spawn.workerPIDs().count == 2)
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

    /// A segment nobody uses any more: a spawn on it, killed with its workers. Its log and reports
    /// go to `dir`.
    func staleSegment(_ tag: String, dir: String) -> String {
        let name = Demo.segmentName(tag)
        let spawn = LongSpawn(name: name, ["--quiet", "--dir", dir])
        #expect(spawn.workerPIDs().count == 2)
        spawn.killAll()
        #expect(poll { FlatJSON(text: Demo.run(["stat", name, "--json"]).stdout).bool("stale") == true })
        return name
    }

    /// `stat` and `unlink` of a name that does not exist point to the CLI, not to the library.
    @Test(.timeLimit(.minutes(1)))
    func aMissingSegmentSuggestsList() {
        let name = Demo.segmentName("missing")
        for command in ["stat", "unlink"] {
            let r = Demo.run([command, name])
            #expect(r.status == 1, "\(command): \(r.description)")
            #expect(r.stderr.hasPrefix("Error: no segment named \(name)"), "\(command): \(r.stderr)")
            #expect(r.stderr.contains("batch-shm-demo list"), "\(command): \(r.stderr)")
            #expect(!r.stderr.contains("SharedSegment"), "\(command): \(r.stderr)")
        }
    }

    /// A coach count of Int64.min (a corrupt segment: -count does not exist) is shown, not a trap
    /// (`status()` clamps it to -Int64.max, for display).
    @Test(.timeLimit(.minutes(1)))
    func statShowsAnyCoachCount() {
        let dir = Demo.tempDirectory()
        defer { Sys.removeDirectory(dir) }
        let name = staleSegment("count", dir: dir)
        defer { _ = Demo.run(["unlink", "-f", name]) }
        let coach0 = off_t(SegmentBytes.read(name, at: SegmentBytes.offCoaches))
        SegmentBytes.write(name, at: coach0, UInt64(bitPattern: Int64.min))
        let r = Demo.run(["stat", name])
        #expect(r.status == 0 && !r.signaled, "\(r.description)")
        // "committing, N inside" or "done, N to exit", as the stale run left the coach.
        #expect(
            r.stdout.contains("9223372036854775807 inside") || r.stdout.contains("9223372036854775807 to exit"),
            "\(r.stdout)")
        let j = Demo.run(["stat", name, "--json"])
        #expect(j.status == 0 && j.stdout.contains("\"count\":-9223372036854775807"), "\(j.description)")
    }

    /// `unlink -f` opens nothing: it removes a segment whose counters a reader cannot even add up.
    @Test(.timeLimit(.minutes(1)))
    func forceUnlinkOpensNothing() {
        let dir = Demo.tempDirectory()
        defer { Sys.removeDirectory(dir) }
        let name = staleSegment("counter", dir: dir)
        defer { unlink("/dev/shm" + name) }
        SegmentBytes.write(name, at: SegmentBytes.batchesCounter, 1 << 63)
        let r = Demo.run(["unlink", "-f", name])
        #expect(r.status == 0 && !r.signaled, "\(r.description)")
        #expect(!Demo.exists("/dev/shm" + name))
    }

    /// `list`: this user's BatchIPC segments, live, stale or corrupt; other files are left out.
    @Test(.timeLimit(.minutes(1)))
    func listShowsLiveStaleAndCorrupt() {
        let dir = Demo.tempDirectory()
        defer { Sys.removeDirectory(dir) }
        let live = Demo.segmentName("list-live")
        let spawn = LongSpawn(name: live, ["--quiet", "--dir", dir])
        defer {
            spawn.killAll()
            unlink("/dev/shm" + live)
        }
        let corrupt = Demo.segmentName("list-corrupt")
        SegmentBytes.makeCorrupt(corrupt)
        defer { unlink("/dev/shm" + corrupt) }
        let notOurs = Demo.segmentName("list-plain")
        close(open("/dev/shm" + notOurs, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600))
        defer { unlink("/dev/shm" + notOurs) }
        let otherUser = Demo.segmentName("list-uid")
        if geteuid() == 0 {
            SegmentBytes.makeCorrupt(otherUser)
            chown("/dev/shm" + otherUser, 65534, 65534)
        }
        defer { unlink("/dev/shm" + otherUser) }
        #expect(spawn.workerPIDs().count == 2)

        /// The state `list` gives `name`, nil when it is not listed.
        func state(_ name: String) -> String? {
            let r = Demo.run(["list"])
            #expect(r.status == 0, "\(r.description)")
            let line = r.stdout.split(separator: "\n").first { $0.hasPrefix(name + " ") }
            return line?.split(separator: " ").dropFirst().first.map(String.init)
        }
        #expect(state(live) == "live")
        #expect(state(corrupt) == "corrupt")
        #expect(state(notOurs) == nil)
        #expect(state(otherUser) == nil)
        let json = Demo.run(["list", "--json"])
        #expect(json.status == 0, "\(json.description)")
        #expect(json.stdout.contains("{\"name\":\"\(live)\",\"state\":\"live\""), "\(json.stdout)")
        #expect(json.stdout.contains("{\"name\":\"\(corrupt)\",\"state\":\"corrupt\""), "\(json.stdout)")
        #expect(!json.stdout.contains(notOurs) && !json.stdout.contains(otherUser))

        spawn.killAll()
        #expect(poll { state(live) == "stale" }, "\(Demo.run(["list"]).stdout)")
    }

    @Test(.timeLimit(.minutes(1)))
    func badNameIsAUsageError() {
        #expect(Demo.run(["stat", "no-slash"]).status == 64)
        #expect(Demo.run(["unlink", "/a/b"]).status == 64)
    }
}

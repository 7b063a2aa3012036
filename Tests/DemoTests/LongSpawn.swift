// A spawn that runs until the test stops it, bounded polls, and the raw bytes of a segment: the
// tools of the tests that kill, inspect and corrupt what a run leaves.

import Testing

@testable import batch_shm_demo

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Waits until `condition` holds, checking every few milliseconds for at most `seconds`.
/// Returns whether it held: the tests await what they can observe, never a fixed time.
@discardableResult
func poll(seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Sys.now() + seconds
    while !condition() {
        if Sys.now() > deadline { return false }
        var ts = timespec(tv_sec: 0, tv_nsec: 5_000_000)
        nanosleep(&ts, nil)
    }
    return true
}

/// `spawn` with two workers and a million simulated 2 ms commits: it runs until killed. It
/// leads its own process group, so that `killAll` reaches its workers whatever the test did.
struct LongSpawn {
    let name: String
    let started: (pid: pid_t, out: String, err: String)
    var pid: pid_t { started.pid }

    init(name: String, _ extra: [String] = [], environment: [String: String] = [:]) {
        self.name = name
        started = Demo.start(
            Self.arguments + ["--name", name] + extra, environment: environment, newGroup: true)
    }

    /// A long spawn with its default segment name, whose name is the `list` entry that carries
    /// its pid.
    init(defaultNameWith extra: [String]) {
        started = Demo.start(Self.arguments + extra, newGroup: true)
        let prefix = "/batch-shm-demo-\(started.pid)-"
        var found = ""
        poll(seconds: 20) {
            let line = Demo.run(["list"]).stdout.split(separator: "\n").first { $0.hasPrefix(prefix) }
            found = line.map { String($0.prefix { $0 != " " }) } ?? ""
            return !found.isEmpty
        }
        name = found
    }

    static let arguments = [
        "spawn", "2", "--ops", "1000000", "--commit", "simulate", "--commit-cost", "2000", "--timeout", "50",
    ]

    /// The pids of its workers once `count` of them take part (see `Demo.participantPIDs`).
    func workerPIDs(_ count: Int = 2) -> [pid_t] { Demo.participantPIDs(of: name, count: count) }

    /// Kills spawn and its process group with SIGKILL and reaps spawn.
    func killAll() {
        killpg(pid, SIGKILL)
        _ = Demo.finish(started, seconds: 10)
    }
}

extension Demo {
    /// The pids of the participants of segment `name` once `count` of them are alive (empty if
    /// they do not come within 20 s).
    static func participantPIDs(of name: String, count: Int) -> [pid_t] {
        var pids: [pid_t] = []
        poll(seconds: 20) {
            let r = run(["stat", name, "--json"])
            guard r.status == 0, (FlatJSON(text: r.stdout).int("live_participants") ?? 0) >= count else { return false }
            // The participant array, not the configuration's "participants" count.
            let array = r.stdout.firstRange(of: "\"participants\":[").map { r.stdout[$0.upperBound...] } ?? ""
            pids = values(of: "pid", in: String(array.prefix { $0 != "]" })).map { pid_t($0) }
            return true
        }
        return pids
    }

    /// Every integer value of `key` in `json` (e.g. each participant's pid).
    static func values(of key: String, in json: String) -> [Int] {
        json.split(separator: "\"\(key)\":").dropFirst().compactMap { rest in Int(rest.prefix { $0.isNumber }) }
    }
}

/// The bytes of a segment, read and written as a file in /dev/shm, to corrupt one on purpose.
/// Offsets are those of `cshm_header` (Sources/CShmSync/include/cshm_shm.h).
enum SegmentBytes {
    static let offCoaches: off_t = 128
    static let batchesCounter: off_t = 216

    static func read(_ name: String, at offset: off_t) -> UInt64 {
        let fd = open("/dev/shm" + name, O_RDONLY | O_CLOEXEC)
        defer { close(fd) }
        var value: UInt64 = 0
        precondition(pread(fd, &value, 8, offset) == 8, "pread(\(name)) failed")
        return UInt64(littleEndian: value)
    }

    static func write(_ name: String, at offset: off_t, _ value: UInt64) {
        let fd = open("/dev/shm" + name, O_RDWR | O_CLOEXEC)
        defer { close(fd) }
        var le = value.littleEndian
        precondition(pwrite(fd, &le, 8, offset) == 8, "pwrite(\(name)) failed")
    }

    /// A file in /dev/shm that starts with BatchIPC's magic ("swbatch1") followed by `junk`:
    /// a segment that `open` refuses.
    static func makeCorrupt(_ name: String, junk: Int = 100, mode: mode_t = 0o600) {
        let fd = open("/dev/shm" + name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode)
        precondition(fd >= 0, "create /dev/shm\(name) failed")
        defer { close(fd) }
        let bytes = Array("swbatch1".utf8) + [UInt8](repeating: 0xA5, count: junk)
        precondition(Glibc.write(fd, bytes, bytes.count) == bytes.count)
        fchmod(fd, mode)
    }
}

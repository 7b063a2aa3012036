// Thin wrappers over the few system calls the demo makes, each retrying EINTR in one place
// (`retrying`) and turning failures into a `DemoFailure` that names the call and the errno.
// Self-contained: Tests/DemoTests links this file too (a symlink), so that the tests start,
// time and clean up the demo with the demo's own helpers.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A runtime failure of the demo (exit status 1): what was being done, and why it failed.
struct DemoFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) { self.description = description }

    /// A failed system call: `operation` names it and its argument, `errno` says why.
    static func errno(_ operation: String, _ code: Int32 = Glibc.errno) -> DemoFailure {
        DemoFailure("\(operation) failed: \(String(cString: strerror(code))) (errno \(code))")
    }
}

/// Runs `call` until it does not fail with EINTR; returns its result (-1 with `errno` set on failure).
@inline(__always)
func retrying<T: BinaryInteger>(_ call: () -> T) -> T {
    while true {
        let r = call()
        if r == -1 && errno == EINTR { continue }
        return r
    }
}

enum Sys {
    /// Writes all of `bytes` to `fd` (retrying short writes and EINTR).
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, what: String) throws {
        var done = 0
        while done < bytes.count {
            let n = retrying { Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done) }
            if n < 0 { throw DemoFailure.errno("write(\(what))") }
            done += n
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], what: String) throws {
        try bytes.withUnsafeBytes { b in try writeAll(fd, b, what: what) }
    }

    static func writeAll(_ fd: Int32, _ text: String, what: String) throws {
        try writeAll(fd, Array(text.utf8), what: what)
    }

    /// Opens `path`; throws naming the path.
    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0o600) throws -> Int32 {
        let fd = retrying { Glibc.open(path, flags | O_CLOEXEC, mode) }
        if fd < 0 { throw DemoFailure.errno("open(\(path))") }
        return fd
    }

    /// The whole content of `path`.
    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { b in retrying { read(fd, b.baseAddress!, b.count) } }
            if n < 0 { throw DemoFailure.errno("read(\(path))") }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    /// Monotonic time in seconds.
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Sleeps `seconds` (monotonic, resumed after signals).
    static func sleep(_ seconds: Double) {
        var req = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var rem = timespec()
        while nanosleep(&req, &rem) == -1 && errno == EINTR { req = rem }
    }

    /// Busy-waits `microseconds`: a simulated commit cost that does not depend on timer slack.
    static func spin(microseconds: Int) {
        let end = now() + Double(microseconds) / 1e6
        while now() < end {}
    }

    /// The path of this executable, for re-executing it as a worker.
    static func selfPath() -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        if n > 0 {
            return buf.withUnsafeBufferPointer { b in
                String(decoding: UnsafeRawBufferPointer(start: b.baseAddress, count: n), as: UTF8.self)
            }
        }
        return CommandLine.arguments[0]
    }

    /// Starts `path` with `arguments` (argv[0] excluded); stdin from /dev/null, stdout and
    /// stderr inherited. Returns the child's pid.
    static func spawn(_ path: String, _ arguments: [String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = withShellSpawnAttributes { attr in posix_spawn(&pid, path, &actions, attr, argv, environ) }
        if rc != 0 { throw DemoFailure.errno("posix_spawn(\(path))", rc) }
        return pid
    }

    /// posix_spawn attributes for a child that starts as from a shell, whatever this process
    /// inherited: no signal blocked, SIGINT, SIGTERM, SIGHUP and SIGPIPE at their defaults (so
    /// that Ctrl-C, kill and a closed terminal stop it, and an ignored SIGPIPE does not leak into
    /// it); with `newGroup`, in a process group of its own. Also used by the demo's tests
    /// (Tests/DemoTests links this file).
    static func withShellSpawnAttributes<R>(
        newGroup: Bool = false, _ body: (UnsafePointer<posix_spawnattr_t>) throws -> R
    ) rethrows -> R {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if newGroup {
            flags |= POSIX_SPAWN_SETPGROUP
            posix_spawnattr_setpgroup(&attr, 0)
        }
        posix_spawnattr_setflags(&attr, Int16(flags))
        return try body(&attr)
    }

    /// Where temporary files go: `$TMPDIR`, or `/tmp`.
    static var temporaryBase: String {
        getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    }

    /// A new private directory `<temporaryBase>/<stem>.XXXXXX`.
    static func makeTempDirectory(_ stem: String) throws -> String {
        let template = "\(temporaryBase)/\(stem).XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let made = bytes.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw DemoFailure.errno("mkdtemp(\(template))")
        }
        return String(cString: made)
    }

    /// The names in `dir`, without `.` and `..` (none when it cannot be read).
    static func directoryEntries(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Removes `dir` and the plain files directly inside it. Returns whether `dir` is gone.
    @discardableResult
    static func removeDirectory(_ dir: String) -> Bool {
        for name in directoryEntries(dir) { unlink("\(dir)/\(name)") }
        return rmdir(dir) == 0 || errno == ENOENT
    }

    /// Asks the kernel to SIGKILL this process when the thread that started it exits, then
    /// checks that its parent is still `parent`: if the parent died before the request, the
    /// signal will never come, and this returns false.
    static func dieWithParent(_ parent: pid_t) -> Bool {
        let setParentDeathSignal: Int32 = 1  // PR_SET_PDEATHSIG
        _ = prctlWithIntegers(setParentDeathSignal, UInt(SIGKILL), 0, 0, 0)
        return getppid() == parent
    }

    static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// Whether process `pid` is alive: it exists (signal 0 probe; EPERM counts as existing) and
    /// is not a zombie (state Z or X in /proc/PID/stat) — a killed worker whose parent died
    /// may stay a zombie for a while, and is dead for our purposes.
    static func isAlive(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let text = try? readFile("/proc/\(pid)/stat") else { return true }
        // "PID (comm) S ...": the state follows the last ')'.
        guard let close = text.lastIndex(of: UInt8(ascii: ")")), close + 2 < text.count else { return true }
        let state = text[close + 2]
        return state != UInt8(ascii: "Z") && state != UInt8(ascii: "X")
    }
}

/// prctl(2). Glibc's module map does not export <sys/prctl.h>, and Swift does not import C
/// variadic functions; on Linux's x86-64 and AArch64 calling conventions integer arguments go in
/// the same registers either way.
@_silgen_name("prctl")
func prctlWithIntegers(_ option: Int32, _ a2: UInt, _ a3: UInt, _ a4: UInt, _ a5: UInt) -> Int32

/// Standard error, unbuffered.
func printError(_ text: String) {
    try? Sys.writeAll(2, text + "\n", what: "stderr")
}

/// Standard output, written at once (no stdio buffering surprises around re-exec).
func printOut(_ text: String) {
    try? Sys.writeAll(1, text + "\n", what: "stdout")
}

/// A small deterministic PRNG (SplitMix64) so that `--seed` reproduces a run's choices.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

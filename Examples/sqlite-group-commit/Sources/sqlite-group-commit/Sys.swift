// Thin wrappers over the system calls the example makes. EINTR is retried in one place
// (`retryingEINTR`); a failure becomes a `RuntimeFailure` naming the call, its argument and errno.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A runtime failure (exit status 1): what was being done and why it failed.
struct RuntimeFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) { self.description = description }

    /// A failed system call: `operation` names it and its argument, `code` says why.
    static func errno(_ operation: String, _ code: Int32 = Glibc.errno) -> RuntimeFailure {
        RuntimeFailure("\(operation) failed: \(String(cString: strerror(code))) (errno \(code))")
    }
}

/// Runs `call` again while it fails with EINTR; returns its last result.
@inline(__always)
func retryingEINTR<T: BinaryInteger>(_ call: () -> T) -> T {
    while true {
        let result = call()
        if result == -1 && errno == EINTR { continue }
        return result
    }
}

enum Sys {
    /// Writes all of `bytes` to `fd`. A report line is far below PIPE_BUF and goes to a regular
    /// file opened O_APPEND, so it is written by one write(2).
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], what: String) throws(RuntimeFailure) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { b in
                retryingEINTR { write(fd, b.baseAddress! + done, b.count - done) }
            }
            if n < 0 { throw .errno("write(\(what))") }
            done += n
        }
    }

    /// Opens `path` close-on-exec.
    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0o600) throws(RuntimeFailure) -> Int32 {
        let fd = retryingEINTR { Glibc.open(path, flags | O_CLOEXEC, mode) }
        if fd < 0 { throw .errno("open(\(path))") }
        return fd
    }

    /// The whole content of `path`.
    static func readFile(_ path: String) throws(RuntimeFailure) -> [UInt8] {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { b in retryingEINTR { read(fd, b.baseAddress!, b.count) } }
            if n < 0 { throw .errno("read(\(path))") }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    /// The size of `path` in bytes, 0 when it cannot be read.
    static func fileSize(_ path: String) -> Int {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : 0
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// Monotonic time in seconds.
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Sleeps `seconds` on the monotonic clock (resumed after a signal).
    static func sleep(_ seconds: Double) {
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
    }

    /// The path of this executable, to start it again as a worker.
    static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return CommandLine.arguments[0] }
        return buffer.withUnsafeBytes { String(decoding: $0.prefix(n), as: UTF8.self) }
    }

    /// Starts `path` with `arguments` (argv[0] excluded): standard input from /dev/null, output
    /// inherited, no signal blocked, and SIGINT, SIGTERM, SIGHUP and SIGPIPE at their defaults
    /// whatever this process does with them. Returns the child's pid.
    static func spawn(_ path: String, _ arguments: [String]) throws(RuntimeFailure) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        if rc != 0 { throw .errno("posix_spawn(\(path))", rc) }
        return pid
    }

    /// Where temporary files go: `$TMPDIR`, or `/tmp`.
    static var temporaryBase: String {
        guard let value = getenv("TMPDIR"), value.pointee != 0 else { return "/tmp" }
        return String(cString: value)
    }

    /// A new private directory `<temporaryBase>/<stem>.XXXXXX`.
    static func makeTemporaryDirectory(_ stem: String) throws(RuntimeFailure) -> String {
        var template = Array("\(temporaryBase)/\(stem).XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw .errno("mkdtemp(\(temporaryBase)/\(stem).XXXXXX)")
        }
        return String(cString: made)
    }

    /// Removes `dir` and the plain files directly in it.
    static func removeDirectory(_ dir: String) {
        if let handle = opendir(dir) {
            while let entry = readdir(handle) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
                }
                if name != "." && name != ".." { unlink("\(dir)/\(name)") }
            }
            closedir(handle)
        }
        rmdir(dir)
    }

    /// The 1-minute load average (/proc/loadavg), nil when it cannot be read.
    static func loadAverage() -> Double? {
        guard let bytes = try? readFile("/proc/loadavg") else { return nil }
        return String(decoding: bytes, as: UTF8.self).split(separator: " ").first.flatMap { Double($0) }
    }

    /// Asks the kernel to SIGKILL this process when the thread that started it exits, then
    /// checks that its parent is still `parent` (if not, the parent died before the request and
    /// the signal will never come).
    static func dieWithParent(_ parent: pid_t) -> Bool {
        let setParentDeathSignal: Int32 = 1  // PR_SET_PDEATHSIG
        _ = prctlIntegers(setParentDeathSignal, UInt(SIGKILL), 0, 0, 0)
        return getppid() == parent
    }
}

/// prctl(2): Glibc's module does not export <sys/prctl.h>, and Swift does not import C variadic
/// functions; on Linux x86-64 and AArch64 integer arguments travel in the same registers either way.
@_silgen_name("prctl")
private func prctlIntegers(_ option: Int32, _ a2: UInt, _ a3: UInt, _ a4: UInt, _ a5: UInt) -> Int32

/// Standard output, written at once.
func printOut(_ text: String) {
    try? Sys.writeAll(1, Array((text + "\n").utf8), what: "stdout")
}

/// Standard error, written at once.
func printError(_ text: String) {
    try? Sys.writeAll(2, Array((text + "\n").utf8), what: "stderr")
}

/// SplitMix64: a small deterministic generator, so that `--seed` repeats a run's choices.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

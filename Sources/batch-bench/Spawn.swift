// Worker processes for the open loop across processes: this binary re-executed with
// `posix_spawn` (never `fork()`), a start barrier over two pipes, and bounded reaping.
//
// Each child gets the write end of the "ready" pipe as fd 3 and the read end of the "go" pipe as
// fd 4: it writes one byte to fd 3 once set up, then reads the common start time (8 bytes, a
// `now()` value) from fd 4.
#if canImport(Glibc)
    import Glibc
#endif

/// The fds a spawned worker finds its barrier on.
enum WorkerBarrierFD {
    static let ready: Int32 = 3
    static let go: Int32 = 4
}

/// A group of worker processes started together.
struct WorkerGroup {
    private(set) var pids: [pid_t] = []
    private let readyRead: Int32
    private let goWrite: Int32
    private let readyWrite: Int32
    private let goRead: Int32

    /// Starts one worker per element of `argumentLists` (this binary, with those arguments).
    init(_ argumentLists: [[String]]) {
        (readyRead, readyWrite) = WorkerGroup.pipeAboveStandardFDs()
        (goRead, goWrite) = WorkerGroup.pipeAboveStandardFDs()
        for arguments in argumentLists {
            pids.append(spawn(arguments))
        }
        close(readyWrite)
        close(goRead)
    }

    /// A pipe whose two fds are close-on-exec and above the fds the children get (so that the
    /// `dup2` to 3 and 4 always makes a new, inheritable fd). No other thread spawns meanwhile.
    private static func pipeAboveStandardFDs() -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0, "pipe failed: errno \(errno)")
        let moved = fds.map { fd in
            let high = fcntl(fd, F_DUPFD_CLOEXEC, 10)
            precondition(high >= 0, "fcntl(F_DUPFD_CLOEXEC) failed: errno \(errno)")
            close(fd)
            return high
        }
        return (moved[0], moved[1])
    }

    private func spawn(_ arguments: [String]) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, readyWrite, WorkerBarrierFD.ready)
        posix_spawn_file_actions_adddup2(&actions, goRead, WorkerBarrierFD.go)
        let path = "/proc/self/exe"
        let argv: [UnsafeMutablePointer<CChar>?] = ([CommandLine.arguments[0]] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
        precondition(rc == 0, "posix_spawn(\(path)) failed: \(rc)")
        return pid
    }

    /// Waits until every worker is set up (or `timeout` seconds), then gives them all the same
    /// start time, `lead` seconds from now. Returns the start time, or nil if a worker never
    /// became ready.
    func start(lead: Double, timeout: Double = 30) -> Double? {
        var ready = 0
        let deadline = now() + timeout
        var buffer = [UInt8](repeating: 0, count: 64)
        while ready < pids.count && now() < deadline {
            var pfd = pollfd(fd: readyRead, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) >= 0 || errno == EINTR else { break }
            if pfd.revents != 0 {
                let n = read(readyRead, &buffer, buffer.count)
                if n <= 0 { break }  // every worker exited or failed
                ready += n
            }
        }
        close(readyRead)
        let startTime = now() + lead
        let times = [Double](repeating: startTime, count: ready == pids.count ? pids.count : 0)
        _ = times.withUnsafeBytes { write(goWrite, $0.baseAddress, $0.count) }
        close(goWrite)
        return ready == pids.count ? startTime : nil
    }

    /// Reaps every worker, killing those still running after `deadline` (a `now()` value).
    /// Returns whether every worker exited with status 0.
    func wait(until deadline: Double) -> Bool {
        var pending = Set(pids)
        var allZero = true
        while !pending.isEmpty {
            for pid in pending {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid {
                    pending.remove(pid)
                    if status != 0 { allZero = false }
                }
            }
            if now() > deadline {
                for pid in pending { kill(pid, SIGKILL) }
            }
            if !pending.isEmpty { asyncBenchSleep(2000) }  // polling for exits, not a settle time
        }
        return allZero
    }
}

/// In a spawned worker: says "ready", then waits for the start time.
func workerAwaitStart() -> Double {
    var byte: UInt8 = 1
    precondition(write(WorkerBarrierFD.ready, &byte, 1) == 1, "worker: write(ready) failed: errno \(errno)")
    close(WorkerBarrierFD.ready)
    var start = 0.0
    let n = withUnsafeMutableBytes(of: &start) { read(WorkerBarrierFD.go, $0.baseAddress, 8) }
    if n != 8 { exit(3) }  // the parent gave up (another worker failed to start)
    close(WorkerBarrierFD.go)
    return start
}

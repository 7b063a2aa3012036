// The start line between spawn and its workers, and the workers' tie to spawn's life.
//
// spawn opens two pipes and passes the workers their ends in SQLITE_GROUP_COMMIT_SYNC
// ("GO,READY,SPAWN_PID"). A worker first asks the kernel to SIGKILL it when spawn dies
// (PR_SET_PDEATHSIG; spawn starts every worker from its main thread, whose exit the signal
// follows) and checks spawn is still its parent. Once its database and batcher are open it
// writes one byte on READY and waits for end-of-file on GO: spawn closes GO when all are ready,
// so the timed part starts for everyone at once. A spawn that dies meanwhile leaves READY
// without a reader: the worker's write fails with EPIPE and it stops.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// spawn's side.
struct StartLine {
    static let variable = "SQLITE_GROUP_COMMIT_SYNC"

    private var go: [Int32] = [-1, -1]
    private var ready: [Int32] = [-1, -1]

    /// Makes the pipes; the workers spawned next inherit their ends, spawn's own are close-on-exec.
    init() throws(RuntimeFailure) {
        guard pipe(&go) == 0, pipe(&ready) == 0 else { throw .errno("pipe") }
        _ = fcntl(go[1], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ready[0], F_SETFD, FD_CLOEXEC)
        setenv(Self.variable, "\(go[0]),\(ready[1]),\(getpid())", 1)
    }

    /// After the last spawn: spawn drops the workers' ends, so a worker that dies is seen.
    func workersStarted() {
        close(go[0])
        close(ready[1])
        unsetenv(Self.variable)
    }

    /// Waits up to `milliseconds` for ready bytes. Returns how many arrived, nil when no worker
    /// holds the pipe any more.
    func readyCount(waiting milliseconds: Int32) -> Int? {
        var pfd = pollfd(fd: ready[0], events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, milliseconds) > 0 else { return 0 }
        var bytes = [UInt8](repeating: 0, count: 64)
        let n = retryingEINTR { read(ready[0], &bytes, bytes.count) }
        return n > 0 ? n : nil
    }

    /// Starts everyone.
    func release() {
        close(ready[0])
        close(go[1])
    }
}

/// A worker's side.
enum WorkerStart {
    private static func environment() -> (go: Int32, ready: Int32, spawn: pid_t)? {
        guard let raw = getenv(StartLine.variable) else { return nil }
        let parts = String(cString: raw).split(separator: ",").compactMap { Int32($0) }
        return parts.count == 3 ? (parts[0], parts[1], parts[2]) : nil
    }

    /// The worker's first step: die with spawn. SIGPIPE is ignored: a write to the start line
    /// of a dead spawn fails instead.
    static func tieToSpawn() throws(RuntimeFailure) {
        guard let line = environment() else { return }
        signal(SIGPIPE, SIG_IGN)
        guard Sys.dieWithParent(line.spawn) else {
            throw RuntimeFailure("spawn (pid \(line.spawn)) is gone: not starting")
        }
    }

    /// Says "ready", then waits for the start.
    static func arrive() throws(RuntimeFailure) {
        guard let line = environment() else { return }
        var byte: UInt8 = 1
        let written = retryingEINTR { write(line.ready, &byte, 1) }
        let code = errno
        close(line.ready)
        guard written == 1 else {
            throw code == EPIPE ? RuntimeFailure("spawn is gone: not starting") : .errno("write(ready pipe)", code)
        }
        _ = retryingEINTR { read(line.go, &byte, 1) }
        close(line.go)
    }
}

// The start barrier between spawn and its workers, and the workers' tie to spawn's life.
//
// spawn makes two pipes and hands each worker its ends in `BATCH_SHM_DEMO_SYNC=GO,READY,SPAWN`.
// A worker first ties its life to spawn: the kernel is to SIGKILL it when spawn dies
// (PR_SET_PDEATHSIG, armed by the main thread of spawn, which starts every worker), and spawn
// (pid SPAWN) must still be its parent, or the signal would never come. Once set up, it writes
// one byte on READY, then waits for end-of-file on GO, which spawn closes when every worker is
// ready: they all start at once. A spawn killed meanwhile closes READY's only reader: the
// worker's write fails with EPIPE (SIGPIPE is ignored) and the worker stops with an error.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// spawn's side of the barrier.
struct StartBarrier {
    static let environmentVariable = "BATCH_SHM_DEMO_SYNC"

    private var go: [Int32] = [-1, -1]
    private var ready: [Int32] = [-1, -1]

    /// Makes the two pipes and publishes the workers' ends for the workers spawn starts next.
    /// spawn's own ends are close-on-exec: no worker holds them, so their closing is seen.
    init() throws {
        guard pipe(&go) == 0 else { throw DemoFailure.errno("pipe") }
        guard pipe(&ready) == 0 else { throw DemoFailure.errno("pipe") }
        _ = fcntl(go[1], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ready[0], F_SETFD, FD_CLOEXEC)
        setenv(Self.environmentVariable, "\(go[0]),\(ready[1]),\(getpid())", 1)
    }

    /// Once every worker is started: closes their ends in spawn and withdraws the variable.
    func workersStarted() {
        close(go[0])
        close(ready[1])
        unsetenv(Self.environmentVariable)
    }

    /// Waits up to `milliseconds` for workers to say they are ready. Returns how many did (0 if
    /// none), or nil when no worker holds its end any more.
    func readyWorkers(waiting milliseconds: Int32) -> Int? {
        var pfd = pollfd(fd: ready[0], events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, milliseconds) > 0 else { return 0 }
        var buf = [UInt8](repeating: 0, count: 64)
        let n = retrying { read(ready[0], &buf, buf.count) }
        return n > 0 ? n : nil
    }

    /// Starts every waiting worker at once.
    func release() {
        close(ready[0])
        close(go[1])
    }
}

/// A worker's side of the barrier.
enum WorkerStart {
    /// The descriptors and spawn's pid from the environment; nil for a worker run by hand.
    static func fromEnvironment() -> (go: Int32, ready: Int32, spawn: pid_t)? {
        guard let raw = getenv(StartBarrier.environmentVariable) else { return nil }
        let parts = String(cString: raw).split(separator: ",").compactMap { Int32($0) }
        guard parts.count == 3 else { return nil }
        return (parts[0], parts[1], parts[2])
    }

    /// First thing a worker does: dies with its spawn, and ignores SIGPIPE (a write to the
    /// barrier of a dead spawn fails instead).
    /// - Throws: when spawn is already gone.
    static func tieToSpawn() throws {
        guard let barrier = fromEnvironment() else { return }
        signal(SIGPIPE, SIG_IGN)
        if !Sys.dieWithParent(barrier.spawn) {
            throw DemoFailure("spawn (pid \(barrier.spawn)) is gone: not starting")
        }
    }

    /// Tells spawn this worker is ready, then waits until spawn starts everyone at once.
    /// - Throws: when spawn is gone (nobody reads the ready pipe).
    static func arrive() throws {
        guard let barrier = fromEnvironment() else { return }
        var byte: UInt8 = 1
        let written = retrying { write(barrier.ready, &byte, 1) }
        let code = errno
        close(barrier.ready)
        if written < 0 && code == EPIPE {
            throw DemoFailure("spawn is gone (nobody reads the start barrier's ready pipe): not starting")
        }
        if written < 0 { throw DemoFailure.errno("write(ready pipe)", code) }
        _ = retrying { read(barrier.go, &byte, 1) }
        close(barrier.go)
    }
}

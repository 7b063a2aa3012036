// Spawning the real helper executable (`batch-ipc-test-helper`, built next to the test bundle)
// with posix_spawn — never fork() in the test runner — and reading its output before waiting.
import BatchIPC
import BatchTestSupport
import CShmSync
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The helper's commit function, for a coordinator in the test process joining the same batches;
/// strict waiting, like the helper's default, so that an announcement holds a batch open.
func testCoordinator(_ segment: SharedSegment) throws -> SharedCoordinator<TestResult> {
    try SharedCoordinator<TestResult>(segment: segment, waiting: .strict, commit: commitTestBatch)
}

/// One op of the test process, like a helper's.
func testOp(_ c: SharedCoordinator<TestResult>) throws -> TestResult {
    try c.batch { section in
        try countIntoTestBatch(c, coach: section.coach, first: section.isFirst)
        return try section.commit()
    }
}

/// The helper executable: next to the test bundle.
let helperPath: String = {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    precondition(n > 0, "readlink /proc/self/exe failed")
    let exe = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let dir = exe.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    return dir + "/batch-ipc-test-helper"
}()

/// A running helper process.
final class Child: @unchecked Sendable {
    let pid: pid_t
    private let out: Int32

    init(_ arguments: [String]) {
        var fds: [Int32] = [0, 0]
        precondition(cshm_pipe_cloexec(&fds) == 0, "pipe2 failed")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        let argv = ([helperPath] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, helperPath, &actions, nil, argv, environ)
        posix_spawn_file_actions_destroy(&actions)
        precondition(rc == 0, "posix_spawn \(helperPath) failed: \(rc)")
        close(fds[1])
        self.pid = pid
        self.out = fds[0]
    }

    /// Reads one line of its output: blocks until it comes; `nil` at the end of the output.
    func readLine() -> String? {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = read(out, &byte, 1)
            if n == 1 {
                if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
                line.append(byte)
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return line.isEmpty ? nil : String(decoding: line, as: UTF8.self)
            }
        }
    }

    /// Reads the whole output (until the child closes it or dies), then reaps it.
    /// - Returns: the output lines and the exit code, or minus the signal that killed it.
    func finish() -> (lines: [String], status: Int32) {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(out, &buffer, buffer.count)
            if n > 0 {
                data += buffer[0..<n]
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                break
            }
        }
        close(out)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : -(status & 0x7f)
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        return (lines, code)
    }

    func kill(_ signal: Int32 = SIGKILL) { _ = Glibc.kill(pid, signal) }
}

/// Waits until the participant of process `pid` is in `phase` (and, with `sleeping`, asleep on
/// a channel) as the segment shows it.
@discardableResult
func waitForPhase(
    _ segment: SharedSegment, pid: pid_t, _ phase: SharedParticipantPhase, sleeping: Bool = false,
    sourceLocation: SourceLocation = #_sourceLocation
) -> Bool {
    waitUntil("pid \(pid) is \(phase)", sourceLocation: sourceLocation) {
        segment.status().participants.contains {
            $0.pid == pid && $0.phase == phase && (!sleeping || $0.sleepingOn >= 0)
        }
    }
}

/// Whether every thread of process `pid` is stopped (`SIGSTOP`: state `T` in
/// `/proc/PID/task/TID/stat`, after the command's closing parenthesis).
func allThreadsStopped(_ pid: pid_t) -> Bool {
    guard let dir = opendir("/proc/\(pid)/task") else { return false }
    defer { closedir(dir) }
    var threads = 0
    while let entry = readdir(dir) {
        let tid = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard tid.first?.isNumber == true else { continue }
        let fd = open("/proc/\(pid)/task/\(tid)/stat", O_RDONLY)
        guard fd >= 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = read(fd, &buffer, buffer.count)
        close(fd)
        guard n > 0, let paren = buffer[..<n].lastIndex(of: UInt8(ascii: ")")), paren + 2 < n,
            buffer[paren + 2] == UInt8(ascii: "T")
        else { return false }
        threads += 1
    }
    return threads > 0
}

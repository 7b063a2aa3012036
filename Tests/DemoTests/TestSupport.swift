// Runs the built batch-shm-demo binary (found next to the test bundle) and captures its output.

import Testing

@testable import batch_shm_demo

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// What one run of the binary produced.
struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var signaled: Bool = false

    var description: String { "exit \(status)\nstdout:\n\(stdout)\nstderr:\n\(stderr)" }
}

enum Demo {
    /// The directory of the running test binary, where SwiftPM also puts the executables.
    static let buildDirectory: String = {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        precondition(n > 0, "readlink(/proc/self/exe) failed")
        var path = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // .../debug/swift-batchPackageTests.xctest → .../debug
        while let slash = path.lastIndex(of: "/") {
            path = String(path[..<slash])
            if access(path + "/batch-shm-demo", X_OK) == 0 { return path }
        }
        preconditionFailure("batch-shm-demo not found next to the test binary")
    }()

    static var binary: String { buildDirectory + "/batch-shm-demo" }

    /// The repository root (for the man page).
    static let repositoryRoot: String = {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
        return path
    }()

    /// A unique segment name for a test.
    static func segmentName(_ tag: String) -> String {
        "/batch-shm-demo-test-\(getpid())-\(tag)-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Starts the binary (or `program`) with `args`, stdout and stderr into temporary files.
    /// Returns the pid and the two paths.
    /// - Parameters:
    ///   - environment: variables to set (or replace) in the child's environment.
    ///   - descriptors: (child's fd, this process's fd) pairs the child inherits.
    ///   - newGroup: the child leads a new process group (its workers join it), so that a test
    ///     can kill it and all its workers with `killpg`.
    static func start(
        _ args: [String], program: String = binary, environment: [String: String] = [:],
        descriptors: [(child: Int32, parent: Int32)] = [], newGroup: Bool = false
    ) -> (pid: pid_t, out: String, err: String) {
        let out = tempFile("out")
        let err = tempFile("err")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        for d in descriptors { posix_spawn_file_actions_adddup2(&actions, d.parent, d.child) }
        let argv: [UnsafeMutablePointer<CChar>?] = ([program] + args).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var inherited: [String] = []
        var e = environ
        while let entry = e.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "="), environment[String(text[..<eq])] == nil { inherited.append(text) }
            e += 1
        }
        let envp: [UnsafeMutablePointer<CChar>?] =
            (inherited + environment.map { "\($0.key)=\($0.value)" }).map { strdup($0) } + [nil]
        defer { for p in envp { free(p) } }
        var pid: pid_t = 0
        let rc = Sys.withShellSpawnAttributes(newGroup: newGroup) { attr in
            posix_spawn(&pid, program, &actions, attr, argv, envp)
        }
        precondition(rc == 0, "posix_spawn(\(program)) failed: \(rc)")
        return (pid, out, err)
    }

    /// Waits for `pid` (killing it after `seconds`) and collects its output.
    static func finish(_ started: (pid: pid_t, out: String, err: String), seconds: Double = 50) -> RunResult {
        var status: Int32 = 0
        let deadline = Sys.now() + seconds
        var killed = false
        while true {
            let r = waitpid(started.pid, &status, WNOHANG)
            if r == started.pid { break }
            if r < 0 && errno != EINTR { break }
            if !killed && Sys.now() > deadline {
                kill(started.pid, SIGKILL)
                killed = true
            }
            var ts = timespec(tv_sec: 0, tv_nsec: 2_000_000)
            nanosleep(&ts, nil)
        }
        let result = RunResult(
            status: (status & 0x7f) == 0 ? (status >> 8) & 0xff : -(status & 0x7f),
            stdout: readText(started.out), stderr: readText(started.err), signaled: (status & 0x7f) != 0)
        unlink(started.out)
        unlink(started.err)
        return result
    }

    /// Runs the binary (or `program`) to completion.
    static func run(
        _ args: [String], program: String = binary, environment: [String: String] = [:], seconds: Double = 50
    ) -> RunResult {
        finish(start(args, program: program, environment: environment), seconds: seconds)
    }

    static func tempFile(_ tag: String) -> String {
        var template = Array("/tmp/batch-shm-demo-test-\(tag).XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        precondition(fd >= 0, "mkstemp failed")
        close(fd)
        return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A new empty directory for a spawn's log and reports (remove it with `Sys.removeDirectory`).
    static func tempDirectory() -> String {
        let path = tempFile("dir")
        unlink(path)
        precondition(mkdir(path, 0o700) == 0, "mkdir(\(path)) failed")
        return path
    }

    static func readText(_ path: String) -> String {
        guard let f = fopen(path, "r") else { return "" }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}

/// A minimal reader of the flat JSON object the demo prints: the value of a top-level or
/// nested key as text (numbers, booleans), enough for the tests.
struct FlatJSON {
    let text: String

    /// The raw text of the value of `key` (first occurrence), e.g. "12", "true", "{...}".
    func raw(_ key: String) -> String? {
        guard let r = text.firstRange(of: "\"\(key)\":") else { return nil }
        var depth = 0
        var out = ""
        var inString = false
        for ch in text[r.upperBound...] {
            if inString {
                out.append(ch)
                if ch == "\"" { inString = false }
                continue
            }
            if ch == "\"" { inString = true }
            if ch == "{" || ch == "[" { depth += 1 }
            if ch == "}" || ch == "]" {
                if depth == 0 { break }
                depth -= 1
            }
            if ch == "," && depth == 0 { break }
            out.append(ch)
        }
        return out
    }

    func int(_ key: String) -> Int? { raw(key).flatMap { Int($0) } }
    func double(_ key: String) -> Double? { raw(key).flatMap { Double($0) } }
    func bool(_ key: String) -> Bool? { raw(key).flatMap { $0 == "true" ? true : $0 == "false" ? false : nil } }
    /// A member of a nested object, e.g. `int("errors", "worker_crashed")`.
    func int(_ object: String, _ key: String) -> Int? {
        raw(object).flatMap { FlatJSON(text: $0).int(key) }
    }
}

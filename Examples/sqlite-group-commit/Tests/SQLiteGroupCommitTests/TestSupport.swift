// Runs the built sqlite-group-commit (next to the test binary) and collects what it prints.

import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

struct ToolRun {
    let status: Int32
    let stdout: String
    let stderr: String

    /// The exit code, or 128 + the signal that ended it.
    var exitCode: Int32 { status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f) }
}

enum Tool {
    /// The executable SwiftPM built beside this test bundle.
    static var path: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let me = buffer.withUnsafeBytes { String(decoding: $0.prefix(max(n, 0)), as: UTF8.self) }
        var dir = me
        while !dir.isEmpty && !dir.hasSuffix("/") { dir.removeLast() }
        // The test binary is .build/<triple>/debug/<X>.xctest (a file on Linux).
        return dir + "sqlite-group-commit"
    }

    /// Runs the tool with `arguments`; reads both pipes to the end before reaping it.
    static func run(_ arguments: [String]) throws -> ToolRun {
        var out: [Int32] = [-1, -1]
        var err: [Int32] = [-1, -1]
        try #require(pipe(&out) == 0 && pipe(&err) == 0)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, err[1], 2)
        posix_spawn_file_actions_addclose(&actions, out[0])
        posix_spawn_file_actions_addclose(&actions, err[0])
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
        close(out[1])
        close(err[1])
        defer {
            close(out[0])
            close(err[0])
        }
        try #require(rc == 0, "posix_spawn(\(path)) failed: \(rc)")
        let (stdout, stderr) = readBoth(out[0], err[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return ToolRun(status: status, stdout: stdout, stderr: stderr)
    }

    /// Reads two pipes to their ends at once (neither writer blocks on a full pipe).
    private static func readBoth(_ a: Int32, _ b: Int32) -> (String, String) {
        var fds = [pollfd(fd: a, events: Int16(POLLIN), revents: 0), pollfd(fd: b, events: Int16(POLLIN), revents: 0)]
        var data: [[UInt8]] = [[], []]
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while fds.contains(where: { $0.fd >= 0 }) {
            guard poll(&fds, 2, -1) > 0 else { continue }
            for i in 0..<2 where fds[i].fd >= 0 && fds[i].revents != 0 {
                let n = read(fds[i].fd, &chunk, chunk.count)
                if n > 0 { data[i] += chunk[0..<n] } else if n == 0 || errno != EINTR { fds[i].fd = -1 }
            }
        }
        return (String(decoding: data[0], as: UTF8.self), String(decoding: data[1], as: UTF8.self))
    }
}

/// The value of `"key":` in a flat JSON object, as its text.
func jsonField(_ key: String, in text: String) -> String? {
    let marker = "\"\(key)\":"
    guard let part = text.split(separator: marker, maxSplits: 1, omittingEmptySubsequences: false).dropFirst().first
    else { return nil }
    return String(part.prefix { $0 != "," && $0 != "}" })
}

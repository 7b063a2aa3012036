// What ties a run's files to its spawn, so that what a killed spawn leaves behind is found.
//
// spawn's temporary directory is `$TMPDIR/batch-shm-demo-<pid>.XXXXXX` (its log and the workers'
// reports), and its segment, unless --name says otherwise, `/batch-shm-demo-<pid>-<random>`: the
// pid of spawn in both names, for people. For programs, the directory holds `spawn.lock`, which
// names the run's segment and which spawn keeps locked (flock) for as long as it lives. The
// kernel drops the lock when spawn dies, however it dies, so an unlocked `spawn.lock` marks a
// leftover whatever became of the pid since. A run that ends normally removes the directory, or
// with --keep only `spawn.lock` (a kept directory is not a leftover).

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

enum RunNames {
    static let stem = "batch-shm-demo-"
    static let lockFile = "spawn.lock"

    /// The default segment name of the spawn `pid`.
    static func segment(pid: pid_t, random: UInt64) -> String {
        "/\(stem)\(pid)-\(String(random & 0xFFFF_FFFF, radix: 16))"
    }

    /// Whether `name` is a segment name spawn makes by default.
    static func isDefaultSegment(_ name: String) -> Bool {
        guard name.hasPrefix("/" + stem) else { return false }
        let parts = name.dropFirst(stem.count + 1).split(separator: "-", omittingEmptySubsequences: false)
        return parts.count == 2 && isNumber(parts[0]) && (1...8).contains(parts[1].count)
            && parts[1].allSatisfy(\.isHexDigit)
    }

    /// Whether `entry` (a name in $TMPDIR) is the name of a spawn's temporary directory.
    static func isRunDirectory(_ entry: String) -> Bool {
        guard entry.hasPrefix(stem) else { return false }
        let parts = entry.dropFirst(stem.count).split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 2 && isNumber(parts[0]) && parts[1].count == 6
    }

    /// Whether `text` is a pid: ASCII digits only.
    private static func isNumber(_ text: Substring) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// How to remove the stale segment `name`: `unlink` always; `clean` too when it is a run's
    /// (spawn's default name, or named by a leftover directory).
    static func removalHint(_ name: String, leftover: Bool) -> String {
        let clean = leftover || isDefaultSegment(name) ? " or `\(toolName) clean`" : ""
        return "`\(toolName) unlink \(name)`\(clean) removes it"
    }
}

/// The temporary directory of the running spawn, locked for its lifetime.
struct RunDirectory {
    let path: String
    private let lock: Int32

    /// Makes the directory of a spawn whose segment is `segment` (nil: no segment, --baseline).
    /// `spawn.lock` is written and locked under another name, then renamed: nobody ever sees it
    /// unlocked or empty while spawn lives.
    static func create(segment: String?) throws -> RunDirectory {
        let path = try Sys.makeTempDirectory("\(RunNames.stem)\(getpid())")
        let draft = "\(path)/\(RunNames.lockFile).new"
        let fd = try Sys.open(draft, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard retrying({ flock(fd, LOCK_EX) }) == 0 else { throw DemoFailure.errno("flock(\(draft))") }
        try Sys.writeAll(fd, (segment ?? "") + "\n", what: draft)
        guard rename(draft, "\(path)/\(RunNames.lockFile)") == 0 else { throw DemoFailure.errno("rename(\(draft))") }
        return RunDirectory(path: path, lock: fd)
    }

    /// The end of the run: removes the directory (with `keep`, only `spawn.lock`), then unlocks.
    func finish(keep: Bool) {
        if keep { unlink("\(path)/\(RunNames.lockFile)") } else { Sys.removeDirectory(path) }
        close(lock)
    }
}

/// A temporary directory whose spawn is gone without removing it.
struct LeftoverDirectory {
    let path: String
    /// The segment of its run, if it had one.
    let segment: String?

    /// This user's leftovers in $TMPDIR.
    static func all() -> [LeftoverDirectory] {
        let base = Sys.temporaryBase
        return Sys.directoryEntries(base).filter(RunNames.isRunDirectory).compactMap { leftover(at: "\(base)/\($0)") }
    }

    /// The leftover directory of the run of segment `name`, if there is one.
    static func of(segment name: String) -> LeftoverDirectory? { all().first { $0.segment == name } }

    /// `path` if it is a directory of this user holding a `spawn.lock` that nobody holds locked.
    private static func leftover(at path: String) -> LeftoverDirectory? {
        guard let fd = lockIfLeftover(path) else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 300)
        let n = retrying { pread(fd, &bytes, bytes.count, 0) }
        let text = String(decoding: bytes.prefix(max(0, n)), as: UTF8.self)
        let first = text.split(separator: "\n").first.map(String.init)
        return LeftoverDirectory(path: path, segment: first?.hasPrefix("/") == true ? first : nil)
    }

    /// Opens and locks `path`'s `spawn.lock`; nil when it is not a leftover of this user.
    private static func lockIfLeftover(_ path: String) -> Int32? {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == geteuid() else { return nil }
        let fd = open("\(path)/\(RunNames.lockFile)", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    /// Removes the directory, if it is still a leftover. Returns whether it is gone.
    func remove() -> Bool {
        guard let fd = Self.lockIfLeftover(path) else { return false }
        defer { close(fd) }
        return Sys.removeDirectory(path)
    }
}

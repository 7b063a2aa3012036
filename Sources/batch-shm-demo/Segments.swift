// This user's segments as list, stat, unlink and clean see them: which files in /dev/shm are
// BatchIPC segments (they start with its magic number), and whether anybody may still use one.

import BatchIPC

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The live processes that may still use a segment: its participants, its attached processes
/// and its creator (which may be between creating it and starting its workers). A segment with
/// none is stale. This process, only looking, is left out.
struct SegmentUsers {
    let participants: [Int32]
    let processes: [Int32]
    let creator: Int32?

    init(_ s: SharedSegmentStatus) {
        let me = getpid()
        let alive = { (pid: Int32) in pid != me && Self.alive(pid) }
        participants = s.participants.map(\.pid).filter(alive)
        processes = s.processes.filter(alive)
        creator = alive(s.creatorPID) ? s.creatorPID : nil
    }

    /// Every live pid, once each, in order.
    var pids: [Int32] { Set(participants + processes + (creator.map { [$0] } ?? [])).sorted() }
    var isLive: Bool { !pids.isEmpty }

    static func alive(_ pid: Int32) -> Bool { pid > 0 && Sys.isAlive(pid) }
}

/// One segment of this user, as `list` shows it.
struct SegmentEntry {
    enum State {
        case live(SegmentUsers)
        case stale
        /// `open` refuses it; the reason.
        case corrupt(String)

        var word: String {
            switch self {
            case .live: "live"
            case .stale: "stale"
            case .corrupt: "corrupt"
            }
        }
    }

    let name: String
    /// Bytes, as the file in /dev/shm has them.
    let size: Int
    let state: State
}

enum Segments {
    static let directory = "/dev/shm"

    /// This user's segments, by name: the regular files in /dev/shm that belong to this user and
    /// start with BatchIPC's magic number. Nothing is mapped; other files are left out.
    static func all() -> [(name: String, size: Int)] {
        Sys.directoryEntries(directory).sorted().compactMap { entry in
            let name = "/" + entry
            guard (try? SharedSegment.validate(name: name)) != nil, let size = magicFileSize(name) else { return nil }
            return (name, size)
        }
    }

    /// The size of /dev/shm/`name` if it is a regular file of this user that starts with the magic.
    static func magicFileSize(_ name: String) -> Int? {
        let fd = open(directory + name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == geteuid() else { return nil }
        var magic: UInt64 = 0
        guard retrying({ pread(fd, &magic, 8, 0) }) == 8, UInt64(littleEndian: magic) == SharedSegment.magic else {
            return nil
        }
        return Int(st.st_size)
    }

    /// Opens `name` and tells who uses it; nil when it is gone meanwhile.
    static func entry(_ name: String, size: Int) -> SegmentEntry? {
        do {
            let segment = try SharedSegment.open(name: name)
            defer { segment.close() }
            let status = segment.status()
            if status.foundCorruptBy != 0 {  // every user stops using it: `clean` keeps it, named
                return SegmentEntry(
                    name: name, size: size,
                    state: .corrupt("process \(status.foundCorruptBy) found it corrupt and stopped using it"))
            }
            let users = SegmentUsers(status)
            return SegmentEntry(name: name, size: size, state: users.isLive ? .live(users) : .stale)
        } catch .notFound {
            return nil
        } catch {
            return SegmentEntry(name: name, size: size, state: .corrupt("\(error)"))
        }
    }
}

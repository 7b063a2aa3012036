// `list`: this user's segments and whether anybody may still use them. `clean`: removes what
// killed spawns left behind (RunDirectory.swift says how it is tied to them).

import BatchIPC

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

enum ListCommand {
    static func run(_ p: ParsedCommand) throws -> Int32 {
        guard p.positionals.isEmpty else { throw UsageError(message: "list takes no argument", command: .list) }
        let entries = Segments.all().compactMap { Segments.entry($0.name, size: $0.size) }
        let runs = Set(LeftoverDirectory.all().compactMap(\.segment))
        if p.flag("json") {
            printOut(JSONValue.object([("segments", .array(entries.map(json)))]).text)
            return 0
        }
        if entries.isEmpty {
            printOut("no segments of this user in \(Segments.directory)")
            return 0
        }
        let width = entries.map(\.name.count).max()!
        func padded(_ text: String, _ width: Int) -> String {
            text + String(repeating: " ", count: max(0, width - text.count))
        }
        for e in entries {
            let detail = detail(e, leftover: runs.contains(e.name))
            printOut("\(padded(e.name, width))  \(padded(e.state.word, 7))  \(e.size) B  \(detail)")
        }
        return 0
    }

    static func detail(_ e: SegmentEntry, leftover: Bool) -> String {
        switch e.state {
        case .live(let users):
            var text = "pids " + users.pids.map(String.init).joined(separator: ", ")
            if let creator = users.creator { text += " (creator \(creator))" }
            return text
        case .stale:
            return "nobody left to use it: " + RunNames.removalHint(e.name, leftover: leftover)
        case .corrupt(let reason):
            return reason
        }
    }

    static func json(_ e: SegmentEntry) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("name", .string(e.name)), ("state", .string(e.state.word)), ("size", .int(e.size)),
        ]
        switch e.state {
        case .live(let users):
            fields.append(("pids", .array(users.pids.map { .int(Int($0)) })))
            fields.append(("creator_pid", users.creator.map { .int(Int($0)) } ?? .null))
        case .stale:
            break
        case .corrupt(let reason):
            fields.append(("error", .string(reason)))
        }
        return .object(fields)
    }
}

enum CleanCommand {
    /// Removes, without --force: the temporary directory of every spawn that is gone, with its
    /// segment unless somebody still uses it; then every stale segment with spawn's default name.
    /// Corrupt segments stay (their users cannot be told): `unlink NAME` removes one.
    static func run(_ p: ParsedCommand) throws -> Int32 {
        guard p.positionals.isEmpty else { throw UsageError(message: "clean takes no argument", command: .clean) }
        var done = Set<String>()
        var said = false
        func say(_ text: String) {
            printOut(text)
            said = true
        }
        for leftover in LeftoverDirectory.all() {
            if let name = leftover.segment {
                done.insert(name)
                if let size = Segments.magicFileSize(name), let entry = Segments.entry(name, size: size) {
                    if case .live(let users) = entry.state {
                        let pids = users.pids.map(String.init).joined(separator: ", ")
                        say("kept segment \(name) and directory \(leftover.path): in use by pids \(pids)")
                        continue
                    }
                    try remove(name)
                    say("removed segment \(name) (\(entry.state.word), its spawn is gone)")
                }
            }
            if leftover.remove() { say("removed directory \(leftover.path) (its spawn is gone)") }
        }
        for (name, size) in Segments.all() where RunNames.isDefaultSegment(name) && !done.contains(name) {
            guard let entry = Segments.entry(name, size: size) else { continue }
            switch entry.state {
            case .stale:
                try remove(name)
                say("removed segment \(name) (stale)")
            case .corrupt:
                say("kept segment \(name): corrupt; `\(toolName) unlink \(name)` removes it")
            case .live:
                break
            }
        }
        if !said { printOut("nothing to clean") }
        return 0
    }

    static func remove(_ name: String) throws {
        do {
            try SharedSegment.unlink(name: name)
        } catch {
            if case .notFound = error { return }  // removed meanwhile
            throw error
        }
    }
}

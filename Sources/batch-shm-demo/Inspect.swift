// `stat` and `unlink`: a segment's header, coaches, participants and counters, and its removal
// with the temporary directory its spawn left, if any.

import BatchIPC

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

enum InspectCommand {
    static func name(_ p: ParsedCommand) throws -> String {
        guard p.positionals.count == 1 else {
            throw UsageError(
                message: "\(p.command!.rawValue) takes one segment NAME (got \(p.positionals.count))",
                command: p.command)
        }
        let name = p.positionals[0]
        do {
            try SharedSegment.validate(name: name)
        } catch {
            throw UsageError(message: "\(error)", command: p.command)
        }
        return name
    }

    static func alive(_ pid: Int32) -> Bool { SegmentUsers.alive(pid) }

    /// The error for a name that does not exist, with the command that shows what does.
    static func notFound(_ name: String, _ what: String = "") -> DemoFailure {
        DemoFailure("no segment named \(name)\(what): `\(toolName) list` shows this user's segments")
    }

    static func stat(_ p: ParsedCommand) throws -> Int32 {
        let name = try name(p)
        let segment: SharedSegment
        do {
            segment = try SharedSegment.open(name: name)
        } catch {
            if case .notFound = error { throw notFound(name) }
            throw error
        }
        defer { segment.close() }
        let s = segment.status()
        let me = getpid()
        let processes = s.processes.filter { $0 != me }
        let participants = s.participants.filter { $0.pid != me }
        let users = SegmentUsers(s)
        let live = users.participants.count
        let liveProcesses = users.processes.count
        let leftover = LeftoverDirectory.of(segment: name)
        let c = s.configuration
        if p.flag("json") {
            let livenessMS =
                Double(c.livenessPeriod.components.seconds) * 1000
                + Double(c.livenessPeriod.components.attoseconds) / 1e15
            let configuration: [(String, JSONValue)] = [
                ("coaches", .int(c.coaches)), ("participants", .int(c.participants)),
                ("processes", .int(c.processes)), ("state_size", .int(c.stateSize)),
                ("arena_capacity", .int(c.arenaCapacity)), ("result_capacity", .int(c.resultCapacity)),
                ("liveness_ms", .double(livenessMS)),
            ]
            let counters: [(String, JSONValue)] = [
                ("batches", .int(s.counters.batches)), ("workers_served", .int(s.counters.workersServed)),
                ("crashes_recovered", .int(s.counters.crashesRecovered)), ("cancels", .int(s.counters.cancels)),
            ]
            var coaches: [JSONValue] = []
            for co in s.coaches {
                let fields: [(String, JSONValue)] = [
                    ("index", .int(co.index)), ("count", .int(co.count)), ("generation", .int(co.generation)),
                    ("triggered", .bool(co.triggered)), ("ready", .bool(co.ready)), ("arena_used", .int(co.arenaUsed)),
                ]
                coaches.append(.object(fields))
            }
            var slots: [JSONValue] = []
            for pa in participants {
                let fields: [(String, JSONValue)] = [
                    ("slot", .int(pa.slot)), ("pid", .int(Int(pa.pid))), ("alive", .bool(alive(pa.pid))),
                    ("phase", .string(pa.phase.description)), ("coach", .int(pa.coach)),
                    ("sleeping_on", .int(pa.sleepingOn)),
                ]
                slots.append(.object(fields))
            }
            var procs: [JSONValue] = []
            for pid in processes {
                let fields: [(String, JSONValue)] = [("pid", .int(Int(pid))), ("alive", .bool(alive(pid)))]
                procs.append(.object(fields))
            }
            var fields: [(String, JSONValue)] = []
            fields.append(("name", .string(s.name)))
            fields.append(("size", .int(s.size)))
            fields.append(("version", .int(s.version)))
            fields.append(("creator_pid", .int(Int(s.creatorPID))))
            fields.append(("creator_alive", .bool(alive(s.creatorPID))))
            fields.append(("creator_uid", .int(Int(s.creatorUID))))
            fields.append(("found_corrupt_by", s.foundCorruptBy == 0 ? .null : .int(Int(s.foundCorruptBy))))
            fields.append(("configuration", .object(configuration)))
            fields.append(("counters", .object(counters)))
            fields.append(("queue", .int(s.queueLength)))
            fields.append(("coaches", .array(coaches)))
            fields.append(("participants", .array(slots)))
            fields.append(("processes", .array(procs)))
            fields.append(("live_participants", .int(live)))
            fields.append(("live_processes", .int(liveProcesses)))
            fields.append(("stale", .bool(!users.isLive)))
            fields.append(("leftover_directory", leftover.map { .string($0.path) } ?? .null))
            let json = JSONValue.object(fields)
            printOut(json.text)
            return 0
        }
        var l: [String] = []
        l.append("segment      \(s.name) (/dev/shm\(s.name)), \(s.size) bytes, layout version \(s.version)")
        l.append("creator      pid \(s.creatorPID) (\(alive(s.creatorPID) ? "alive" : "gone")), uid \(s.creatorUID)")
        if s.foundCorruptBy != 0 {
            l.append("corrupt      found by pid \(s.foundCorruptBy): every user stops; unlink it and create it again")
        }
        l.append(
            "capacities   coaches \(c.coaches), participants \(c.participants), processes \(c.processes), state \(c.stateSize) B, arena \(c.arenaCapacity) B, result \(c.resultCapacity) B, liveness \(c.livenessPeriod)"
        )
        l.append("counters     \(s.counters)")
        l.append("queue        \(s.queueLength)")
        for co in s.coaches {
            let state: String
            if co.count >= 0 {
                state = "filling, \(co.count) inside"
            } else if co.ready {
                state = "done, \(co.count.magnitude) to exit"
            } else {
                state = "committing, \(co.count.magnitude) inside"
            }
            l.append(
                "coach \(co.index)      \(state), generation \(co.generation), triggered \(co.triggered), arena \(co.arenaUsed) B"
            )
        }
        if participants.isEmpty { l.append("participants none") }
        for pa in participants {
            let state: String = alive(pa.pid) ? "alive" : "dead"
            var line = "participant  slot \(pa.slot): pid \(pa.pid) (\(state)), \(pa.phase)"
            if pa.coach >= 0 { line += " on coach \(pa.coach)" }
            if pa.sleepingOn >= 0 { line += ", sleeping on channel \(pa.sleepingOn)" }
            l.append(line)
        }
        var procs: [String] = []
        for pid in processes {
            let state: String = alive(pid) ? "alive" : "dead"
            procs.append("\(pid) (\(state))")
        }
        l.append("processes    " + (procs.isEmpty ? "none" : procs.joined(separator: ", ")))
        if let leftover {
            l.append("left behind  \(leftover.path) (the temporary directory of its spawn, which is gone)")
        }
        if users.isLive {
            let creator = users.creator.map { ", creator \($0)" } ?? ""
            l.append("live: \(live) participants, \(liveProcesses) processes\(creator)")
        } else {
            l.append(
                "stale: no live participant, process or creator; "
                    + RunNames.removalHint(name, leftover: leftover != nil))
        }
        printOut(l.joined(separator: "\n"))
        return 0
    }

    /// Removes a segment that nobody uses any more (with --force, any segment, unopened), and the
    /// temporary directory its spawn left, if any.
    static func unlink(_ p: ParsedCommand) throws -> Int32 {
        let name = try name(p)
        if !p.flag("force") {
            do {
                let segment = try SharedSegment.open(name: name)
                let users = SegmentUsers(segment.status())
                segment.close()
                if users.isLive {
                    let pids = users.pids.map(String.init).joined(separator: ", ")
                    throw DemoFailure(
                        "segment \(name) has live participants, processes or creator (pids \(pids)): stop them first,"
                            + " or use --force")
                }
            } catch SharedBatchError.notFound {
                throw notFound(name, " (nothing to remove)")
            } catch let e as SharedBatchError {
                // Not a segment we can read (wrong magic, version…): nobody can use it either.
                if case .foreignOwner = e { throw DemoFailure("\(e)") }
            }
        }
        do {
            try SharedSegment.unlink(name: name)
        } catch {
            if case .notFound = error { throw notFound(name, " (nothing to remove)") }
            throw error
        }
        if let leftover = LeftoverDirectory.of(segment: name), leftover.remove() {
            printOut("removed \(leftover.path), the temporary directory of its spawn")
        }
        return 0
    }
}

// The demo over BatchIPC: the segment spawn creates, and the sink a worker appends through.
// PROVISIONAL: waiting for the BatchIPC API (docs/IPC.md).

import BatchIPC

enum SharedSink {
    static func create(
        name: String, workers: Int, coaches: Int, recordSize: Int, liveness: Int
    ) throws -> any DemoSegment {
        throw DemoFailure("the shared batch (BatchIPC) is not available yet; use --baseline flock")
    }

    static func open(
        segment: String, coaches: Int, recordSize: Int, liveness: Int, writer: LogWriter
    ) throws -> any RecordSink {
        throw DemoFailure("the shared batch (BatchIPC) is not available yet; use --baseline flock")
    }
}

enum InspectCommand {
    static func name(_ p: ParsedCommand) throws -> String {
        guard p.positionals.count == 1 else {
            throw UsageError(message: "\(p.command!.rawValue) takes one segment NAME (got \(p.positionals.count))", command: p.command)
        }
        return p.positionals[0]
    }
    static func stat(_ p: ParsedCommand) throws -> Int32 {
        _ = try name(p)
        throw DemoFailure("stat: not available yet")
    }
    static func unlink(_ p: ParsedCommand) throws -> Int32 {
        _ = try name(p)
        throw DemoFailure("unlink: not available yet")
    }
}

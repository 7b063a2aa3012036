// The whole tool, run as people run it: spawn N workers, check the database, exit status.

import Testing

@testable import sqlite_group_commit

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

@Suite(.serialized)
struct SpawnTests {
    @Test(.timeLimit(.minutes(1)))
    func plainRunChecksClean() throws {
        let run = try Tool.run(["spawn", "3", "--mode", "plain", "--rows", "30", "--timeout", "50", "--json"])
        #expect(run.exitCode == 0, "\(run.stdout)\n\(run.stderr)")
        for (key, value) in [
            ("mode", "\"plain\""), ("workers", "3"), ("rows", "90"), ("acknowledged", "90"), ("in_db", "90"),
            ("batches", "90"), ("lost", "0"), ("duplicated", "0"), ("unknown", "0"), ("ok", "true"),
        ] {
            #expect(jsonField(key, in: run.stdout) == value, "\(key) in \(run.stdout)")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func killedWorkersLeaveTheCheckClean() throws {
        let run = try Tool.run(
            ["spawn", "4", "--mode", "plain", "--rows", "40", "--crash", "2", "--timeout", "50", "--json"])
        #expect(run.exitCode == 0, "\(run.stdout)\n\(run.stderr)")
        let killed = Int(jsonField("killed", in: run.stdout) ?? "") ?? -1
        let missed = Int(jsonField("crashes_missed", in: run.stdout) ?? "") ?? -1
        #expect(killed + missed == 2)
        #expect(jsonField("lost", in: run.stdout) == "0")
        #expect(jsonField("ok", in: run.stdout) == "true")
    }

    @Test(.timeLimit(.minutes(1)))
    func batchedRunChecksClean() throws {
        let run = try Tool.run(
            ["spawn", "3", "--mode", "batched", "--tasks", "2", "--rows", "30", "--timeout", "50", "--json"])
        #expect(run.exitCode == 0, "\(run.stdout)\n\(run.stderr)")
        for (key, value) in [
            ("mode", "\"batched\""), ("acknowledged", "90"), ("in_db", "90"), ("lost", "0"), ("duplicated", "0"),
            ("unknown", "0"), ("busy_errors", "0"), ("ok", "true"),
        ] {
            #expect(jsonField(key, in: run.stdout) == value, "\(key) in \(run.stdout)")
        }
        let batches = Int(jsonField("batches", in: run.stdout) ?? "") ?? 0
        #expect(batches >= 1 && batches <= 90)
    }

    @Test(.timeLimit(.minutes(1)))
    func killedBatchedWorkersLeaveTheCheckClean() throws {
        let run = try Tool.run(
            ["spawn", "4", "--mode", "batched", "--rows", "40", "--crash", "2", "--timeout", "50", "--json"])
        #expect(run.exitCode == 0, "\(run.stdout)\n\(run.stderr)")
        let killed = Int(jsonField("killed", in: run.stdout) ?? "") ?? -1
        let missed = Int(jsonField("crashes_missed", in: run.stdout) ?? "") ?? -1
        #expect(killed + missed == 2)
        #expect(jsonField("lost", in: run.stdout) == "0")
        #expect(jsonField("duplicated", in: run.stdout) == "0")
        #expect(jsonField("ok", in: run.stdout) == "true")
    }

    @Test(arguments: [
        ["spawn"], ["spawn", "0"], ["spawn", "2", "--crash", "3"], ["spawn", "2", "--mode", "fast"],
        ["spawn", "2", "--rows"], ["bogus"], ["spawn", "2", "--nope"],
    ])
    func usageErrorsExit64(_ arguments: [String]) throws {
        let run = try Tool.run(arguments)
        #expect(run.exitCode == 64)
        #expect(run.stderr.hasPrefix("Error: "))
        #expect(run.stderr.contains("See 'sqlite-group-commit --help'"))
        #expect(run.stdout.isEmpty)
    }

    @Test func helpGoesToStandardOutput() throws {
        let run = try Tool.run(["--help"])
        #expect(run.exitCode == 0)
        #expect(run.stdout.contains("Usage: sqlite-group-commit spawn N"))
        #expect(run.stderr.isEmpty)
    }

    @Test func anExistingDatabaseIsRefused() throws {
        let path = "/tmp/sqlite-group-commit-test-\(getpid()).db"
        let fd = open(path, O_CREAT | O_WRONLY, 0o600)
        close(fd)
        defer { unlink(path) }
        let run = try Tool.run(["spawn", "1", "--mode", "plain", "--rows", "1", "--db", path])
        #expect(run.exitCode == 1)
        #expect(run.stderr.contains("exists"))
    }
}

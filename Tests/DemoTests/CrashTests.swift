// Crash injection at every phase: the check passes and the errors are the ones the crash model
// of docs/DESIGN.md §4 gives for that phase.

import Testing

@testable import batch_shm_demo

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

@Suite("batch-shm-demo crash injection", .serialized)
struct CrashTests {
    static let workers = 4
    static let ops = 60

    func crashRun(_ phase: String, extra: [String] = []) -> FlatJSON {
        let args =
            [
                "spawn", "\(Self.workers)", "--ops", "\(Self.ops)", "--commit", "simulate", "--commit-cost", "300",
                "--crash", phase, "--json", "--timeout", "40",
            ] + extra
        let r = Demo.run(args)
        let j = FlatJSON(text: r.stdout)
        #expect(r.status == 0, "\(phase): \(r.description)")
        #expect(j.bool("ok") == true, "\(phase): \(r.stdout)")
        #expect(j.int("lost") == 0)
        #expect(j.int("duplicated") == 0)
        #expect(j.int("failed_in_log") == 0)
        #expect(j.int("unexpected_in_log") == 0)
        #expect(j.int("errors", "worker_exit") == 0)
        #expect(j.int("errors", "timeout") == 0)
        #expect(j.int("errors", "commit_failed") == 0)
        #expect(j.int("errors", "other") == 0)
        return j
    }

    /// The crashed worker reported exactly the operations before its crash; everyone else all.
    func expectOps(_ j: FlatJSON, exact: Bool = true) {
        let expected = (Self.workers - 1) * Self.ops + Self.ops / 2
        if exact {
            #expect(j.int("ops") == expected, "\(j.text)")
        } else {
            #expect((j.int("ops") ?? 0) >= expected, "\(j.text)")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func queued() {
        let j = crashRun("queued")
        #expect(j.int("crashes_injected") == 1)
        #expect(j.int("crashes_by_phase", "queued") == 1)
        #expect((j.int("crashes_recovered") ?? 0) >= 1)
        expectOps(j)
        // Nothing happens to the others.
        for kind in ["canceled", "worker_failed", "worker_crashed", "outcome_unknown", "busy", "remote"] {
            #expect(j.int("errors", kind) == 0, "\(kind): \(j.text)")
        }
        #expect(j.int("unreported_in_log") == 0)
        #expect(j.int("acknowledged") == j.int("ops"))
    }

    @Test(.timeLimit(.minutes(1)))
    func entered() {
        let j = crashRun("entered")
        #expect(j.int("crashes_injected") == 1)
        #expect(j.int("crashes_by_phase", "entered") == 1)
        #expect((j.int("crashes_recovered") ?? 0) >= 1)
        expectOps(j)
        // The batch is poisoned: its other workers (1 to N-1 of them) get workerCrashed, and it
        // is closed without commit: one cancel in the segment's counters. A batch the victim was
        // alone in (it entered an empty coach and died holding the mutex) is undone instead:
        // nobody else saw it, nothing is cancelled.
        let crashed = j.int("errors", "worker_crashed") ?? -1
        #expect(crashed >= 0 && crashed <= Self.workers - 1, "\(j.text)")
        #expect(j.int("segment", "cancels") == (crashed > 0 ? 1 : 0), "\(j.text)")
        for kind in ["canceled", "worker_failed", "outcome_unknown", "busy", "remote"] {
            #expect(j.int("errors", kind) == 0, "\(kind): \(j.text)")
        }
        // Its record was in the arena; it must not be in the log (failed_in_log == 0 above).
        #expect(j.int("unreported_in_log") == 0)
        #expect((j.int("acknowledged") ?? 0) + crashed == j.int("ops"))
    }

    @Test(.timeLimit(.minutes(1)))
    func waiting() {
        let j = crashRun("waiting")
        #expect(j.int("crashes_injected") == 1, "\(j.text)")
        #expect(j.int("crashes_by_phase", "waiting") == 1)
        #expect((j.int("crashes_recovered") ?? 0) >= 1)
        expectOps(j, exact: false)
        // The batch goes on: nobody gets an error.
        for kind in ["canceled", "worker_failed", "worker_crashed", "outcome_unknown", "busy", "remote"] {
            #expect(j.int("errors", kind) == 0, "\(kind): \(j.text)")
        }
        #expect(j.int("acknowledged") == j.int("ops"))
        #expect((j.int("unreported_in_log") ?? -1) <= 1)
    }

    @Test(.timeLimit(.minutes(1)))
    func committing() {
        let j = crashRun("committing", extra: ["--crash-count", "3"])
        #expect(j.int("crashes_injected") == 3, "\(j.text)")
        #expect(j.int("crashes_by_phase", "committing") == 3)
        #expect((j.int("crashes_recovered") ?? 0) >= 3)
        // The others of each batch are told "outcome unknown", never "worker crashed".
        let unknown = j.int("errors", "outcome_unknown") ?? -1
        #expect(unknown >= 0 && unknown <= 3 * (Self.workers - 1), "\(j.text)")
        #expect(unknown == (j.int("unknown_in_log") ?? 0) + (j.int("unknown_not_in_log") ?? 0))
        for kind in ["canceled", "worker_failed", "worker_crashed", "busy", "remote"] {
            #expect(j.int("errors", kind) == 0, "\(kind): \(j.text)")
        }
        #expect((j.int("acknowledged") ?? 0) + unknown == j.int("ops"))
        let expected = (Self.workers - 3) * Self.ops + 3 * (Self.ops / 2)
        #expect(j.int("ops") == expected, "\(j.text)")
    }

    @Test(.timeLimit(.minutes(1)))
    func crashAfterChoosesTheOperation() {
        let j = crashRun("entered", extra: ["--crash-after", "5", "--crash-count", "2"])
        #expect(j.int("crashes_injected") == 2)
        #expect(j.int("ops") == (Self.workers - 2) * Self.ops + 2 * 5, "\(j.text)")
    }

    @Test(.timeLimit(.minutes(1)))
    func randomPhasesWithASeed() {
        let j = crashRun("random", extra: ["--crash-count", "2", "--seed", "42"])
        #expect((j.int("crashes_injected") ?? 0) >= 1)
        #expect((j.int("crashes_planned") ?? 0) == 2)
    }
}

// The summary of a run: human-readable, or one JSON object.

extension CheckResult {
    func json(options o: SpawnOptions, segmentName: String?) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("workers", .int(workers)),
            ("coaches", .int(coaches)),
            ("mode", .string(o.baseline.map { "baseline-\($0)" } ?? "shared")),
            ("commit", .string(o.mode.rawValue)),
            ("record_size", .int(o.recordSize)),
            ("ops_per_worker", .int(o.ops)),
            ("ops", .int(ops)),
            ("batches", .int(batches)),
            ("mean_batch_size", .double(meanBatchSize)),
            ("batch_size_histogram", .object(histogram.keys.sorted().map { (String($0), .int(histogram[$0]!)) })),
            ("seconds", .double(elapsed)),
            ("ops_per_second", .double(opsPerSecond)),
            ("acknowledged", .int(acknowledged)),
            ("in_log", .int(inLog)),
            ("lost", .int(lost)),
            ("duplicated", .int(duplicated)),
            ("failed_in_log", .int(failedInLog)),
            ("unknown_in_log", .int(unknownInLog)),
            ("unknown_not_in_log", .int(unknownNotInLog)),
            ("unreported_in_log", .int(unreportedInLog)),
            ("unexpected_in_log", .int(unexpectedInLog)),
            ("torn_bytes", .int(tornBytes)),
            ("errors", .object(errors.map { ($0.0, .int($0.1)) })),
            ("crashes_planned", .int(crashesPlanned)),
            ("crashes_injected", .int(crashesInjected)),
            ("crashes_by_phase", .object(crashesByPhase.map { ($0.0, .int($0.1)) })),
            ("crashes_recovered", .int(counters?.crashesRecovered ?? 0)),
            ("killed_from_outside", .int(killedFromOutside.count)),
            ("fate_unknown", .int(fateUnknown)),
            ("fate_unknown_in_log", .int(fateUnknownInLog)),
        ]
        if let counters {
            fields.append(
                (
                    "segment",
                    .object([
                        ("name", segmentName.map(JSONValue.string) ?? .null),
                        ("batches", .int(counters.batches)),
                        ("workers_served", .int(counters.workersServed)),
                        ("crashes_recovered", .int(counters.crashesRecovered)),
                        ("cancels", .int(counters.cancels)),
                    ])
                ))
        }
        fields.append(("problems", .array(problems.map(JSONValue.string))))
        fields.append(("ok", .bool(ok)))
        return .object(fields)
    }

    func human(options o: SpawnOptions, segmentName: String?) -> String {
        func fmt(_ v: Double, _ digits: Int = 2) -> String {
            let p = [1.0, 10, 100, 1000][min(digits, 3)]
            let r = (v * p).rounded() / p
            return String(r)
        }
        var l: [String] = []
        let what =
            o.baseline == nil
            ? "shared batch, \(coaches) coach\(coaches == 1 ? "" : "es")"
            : "baseline: flock + append + fdatasync per op"
        let commit = o.mode == .fdatasync ? "fdatasync" : "simulated \(o.cost) µs"
        l.append("\(workers) workers × \(o.ops) ops, \(o.recordSize)-byte records, \(what), commit: \(commit)")
        l.append("ops          \(ops) in \(fmt(elapsed, 3)) s: \(Int(opsPerSecond.rounded())) ops/s")
        l.append("batches      \(batches), mean size \(fmt(meanBatchSize))")
        if !histogram.isEmpty {
            let top = histogram.values.max()!
            for size in histogram.keys.sorted() {
                let n = histogram[size]!
                let bar = String(repeating: "#", count: max(1, n * 40 / top))
                let label = String(repeating: " ", count: max(0, 4 - String(size).count)) + String(size)
                let count = String(repeating: " ", count: max(0, 8 - String(n).count)) + String(n)
                l.append("  size \(label) \(count) \(bar)")
            }
        }
        let nonzero = errors.filter { $0.1 > 0 }
        l.append(
            "errors       " + (nonzero.isEmpty ? "none" : nonzero.map { "\($0.0) \($0.1)" }.joined(separator: ", ")))
        if crashesPlanned > 0 || (counters?.crashesRecovered ?? 0) > 0 {
            let phases = crashesByPhase.filter { $0.1 > 0 }.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
            l.append(
                "crashes      injected \(crashesInjected) of \(crashesPlanned)"
                    + (phases.isEmpty ? "" : " (\(phases))")
                    + ", recovered by the library \(counters?.crashesRecovered ?? 0)")
        }
        if !killedFromOutside.isEmpty {
            let who = killedFromOutside.map { "pid \($0.pid), signal \($0.signal)" }.joined(separator: "; ")
            let n = killedFromOutside.count
            l.append(
                "killed       \(n) worker\(n == 1 ? "" : "s") from outside (\(who)): fate unknown \(fateUnknown)"
                    + " (in flight when killed; \(fateUnknownInLog) in the log)")
        }
        l.append(
            "log check    acknowledged \(acknowledged), in log \(inLog), lost \(lost), duplicated \(duplicated), failed in log \(failedInLog)"
        )
        if unknownInLog + unknownNotInLog + unreportedInLog + tornBytes > 0 {
            l.append(
                "             outcome unknown: \(unknownInLog) in log, \(unknownNotInLog) not; in flight when killed: \(unreportedInLog) in log; torn bytes \(tornBytes)"
            )
        }
        if let counters {
            l.append(
                "segment      \(segmentName ?? "?"): batches \(counters.batches), workers served \(counters.workersServed), cancels \(counters.cancels)"
            )
        }
        for p in problems { l.append("problem      \(p)") }
        l.append(ok ? "ok" : "FAILED")
        return l.joined(separator: "\n")
    }
}

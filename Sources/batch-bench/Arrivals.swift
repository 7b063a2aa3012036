// The open loop of one worker (thread or process): operations arrive at scheduled times drawn
// from a Poisson process (exponential gaps from a seeded PRNG), whatever the worker is doing; it
// serves them in order, and the latency of each is measured from its *scheduled* arrival time to
// its result, so that time spent queued behind a slow operation counts (no coordinated
// omission). Several workers each with a stream at rate λ/N make one Poisson stream at rate λ.
#if canImport(Glibc)
    import Glibc
#endif

/// A small seeded PRNG (xorshift64*): the same seed gives the same arrival times on both sides
/// of a comparison.
struct XorShiftStar: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }

    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }

    /// An exponentially distributed gap with mean `1 / rate`.
    mutating func exponentialGap(rate: Double) -> Double {
        let uniform = Double(next() >> 11) * 0x1p-53  // [0, 1)
        return -log1p(-uniform) / rate
    }
}

/// What one worker's open loop measured.
struct ArrivalOutcome {
    /// Arrivals scheduled in the run.
    var planned = 0
    /// Latency of each served arrival, in seconds, in arrival order.
    var latencies: [Double] = []
}

/// Sleeps until the monotonic time `t` (a `now()` value).
func sleepUntil(_ t: Double) {
    var request = timespec(tv_sec: Int(t), tv_nsec: Int((t - Double(Int(t))) * 1e9))
    while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &request, nil) == EINTR {}
}

/// Runs one worker's open loop: arrivals at `rate` per second from `start` for `seconds`; each
/// is served by `op` as soon as it is due and the worker is free. Arrivals still unserved at
/// `deadline` (the system could not keep up) are counted in `planned` but not served.
func runArrivals(rate: Double, seed: UInt64, start: Double, seconds: Double, deadline: Double, _ op: () -> Void)
    -> ArrivalOutcome
{
    var rng = XorShiftStar(seed: seed)
    var outcome = ArrivalOutcome()
    outcome.latencies.reserveCapacity(Int(rate * seconds * 1.5) + 64)
    let end = start + seconds
    var due = start + rng.exponentialGap(rate: rate)
    var late = false
    while due < end {
        outcome.planned += 1
        if !late {
            var t = now()
            if t > deadline {
                late = true
            } else {
                if due > t { sleepUntil(due) }
                op()
                t = now()
                outcome.latencies.append(t - due)
            }
        }
        due += rng.exponentialGap(rate: rate)
    }
    return outcome
}

/// A closed loop for the saturation of the same configuration: `op` back to back from `start`
/// until `start + seconds`; returns the number of ops.
func runBackToBack(start: Double, seconds: Double, _ op: () -> Void) -> Int {
    if start > now() { sleepUntil(start) }
    let end = start + seconds
    var ops = 0
    while now() < end {
        op()
        ops += 1
    }
    return ops
}

/// The latency percentiles of a run, and the share of its arrivals it served.
struct LatencySummary {
    var p50: Double
    var p99: Double
    var served: Double

    init(_ outcomes: [ArrivalOutcome]) {
        let all = outcomes.flatMap(\.latencies).sorted()
        p50 = percentile(all, 0.50)
        p99 = percentile(all, 0.99)
        served = Double(all.count) / Double(max(1, outcomes.reduce(0) { $0 + $1.planned }))
    }
}

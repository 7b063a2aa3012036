// How the sweeps against hand-written baselines (DESIGN.md §8, "batching never loses") print: rates as "23.1 M" / "123 k", ratios as the median of the
// ratios of interleaved pairs of runs, percentiles, and a header that says when, how loaded and
// how many runs (the machine is shared and noisy: every table says so itself).
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// "93.4 M", "123 k", "812": three significant figures, as in the tables of BENCHMARKS.md.
func formatRate(_ value: Double) -> String {
    if value >= 1e6 { return threeFigures(value / 1e6) + " M" }
    if value >= 1e3 { return threeFigures(value / 1e3) + " k" }
    return threeFigures(value)
}

/// `value` (0.01 or more) to about three significant figures: "812", "58.3", "7.41".
func threeFigures(_ value: Double) -> String {
    value >= 100 ? String(Int(value.rounded())) : value >= 10 ? formatFixed(value, 1) : formatFixed(value, 2)
}

/// `value` with `decimals` digits after the point.
func formatFixed(_ value: Double, _ decimals: Int) -> String {
    String(format: "%.\(decimals)f", value)
}

/// A latency in µs, to three significant figures ("7.41", "58.3", "1210").
func formatMicros(_ seconds: Double) -> String { threeFigures(seconds * 1e6) }

/// The median of the ratios `numerator[i] / denominator[i]` of runs taken side by side.
func medianOfRatios(_ numerator: [Double], _ denominator: [Double]) -> Double {
    median(zip(numerator, denominator).map { $0 / $1 })
}

/// The `q` quantile (0...1) of `sorted`, nearest rank.
func percentile(_ sorted: [Double], _ q: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let rank = Int((q * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

/// A bar of DESIGN.md §8 ("batching never loses"): a ratio or a mean batch of at least `minimum`.
struct Bar {
    let minimum: Double
    init(_ minimum: Double) { self.minimum = minimum }
}

/// "0.62 (bar ≥ 1.0: **no**)", or the value alone where no bar applies; two decimals, three
/// below 0.1 or where two would round a miss up to the bar ("0.998", not "1.00", for a miss).
func judged(_ value: Double, against bar: Bar?) -> String {
    var text = formatFixed(value, value < 0.1 ? 3 : 2)
    guard let bar else { return text }
    if value < bar.minimum && Double(text)! >= bar.minimum { text = formatFixed(value, 3) }
    return text + " (bar ≥ \(bar.minimum): " + (value >= bar.minimum ? "yes" : "**no**") + ")"
}

/// The 1-, 5- and 15-minute load averages, from /proc/loadavg.
func loadAverage() -> String {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "?" }
    return text.split(separator: " ").prefix(3).joined(separator: " ")
}

/// The current UTC time, "2026-11-30 14:05:09 UTC".
func utcNow() -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "UTC")
    formatter.dateFormat = "yyyy-MM-dd HH:mm:ss 'UTC'"
    return formatter.string(from: Date())
}

/// CPU time used on the whole machine and by this process (with its reaped children), to tell how
/// much of the machine other processes took while a cell was measured.
struct CPUSnapshot {
    var wall: Double
    /// Busy seconds of all CPUs together (from /proc/stat: everything but idle and iowait).
    var machineBusy: Double
    /// This process's user + system seconds, and those of its children it has reaped.
    var mine: Double

    static func take() -> CPUSnapshot {
        var busy = Double.nan
        if let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first, line.hasPrefix("cpu ")
        {
            let ticks = line.split(separator: " ").dropFirst().compactMap { Double($0) }
            if ticks.count >= 5 {
                busy = (ticks.reduce(0, +) - ticks[3] - ticks[4]) / Double(sysconf(Int32(_SC_CLK_TCK)))
            }
        }
        func seconds(_ who: Int32) -> Double {
            var usage = rusage()
            getrusage(who, &usage)
            return Double(usage.ru_utime.tv_sec) + Double(usage.ru_stime.tv_sec)
                + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        }
        return CPUSnapshot(
            wall: now(), machineBusy: busy, mine: seconds(RUSAGE_SELF.rawValue) + seconds(RUSAGE_CHILDREN.rawValue))
    }

    /// The cores other processes kept busy on average from `self` to `later` ("0.3").
    func others(until later: CPUSnapshot) -> String {
        let cores = ((later.machineBusy - machineBusy) - (later.mine - mine)) / max(1e-9, later.wall - wall)
        return cores.isNaN ? "?" : formatFixed(max(0, cores), 1)
    }
}

/// Writes `message` and a newline to stderr.
func printError(_ message: String) {
    _ = (message + "\n").withCString { write(2, $0, strlen($0)) }
}

/// The lines that open every sweep's output: what, when, how loaded, how many runs.
func printSweepHeader(_ title: String, runs: Int, seconds: Double, extra: String = "") {
    print("## \(title)\n")
    print(
        "\(utcNow()); load average \(loadAverage()); \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) cores; "
            + "\(runs) interleaved runs of \(formatFixed(seconds, 2)) s per contender and cell, medians; "
            + "ratios: median of the per-run ratios; *others*: the cores that other processes kept busy "
            + "meanwhile (/proc/stat less this process)\(extra)\n")
}

/// The closing line: the load at the end, so that a reader sees whether it changed.
func printSweepFooter() {
    print("\nended \(utcNow()); load average \(loadAverage())\n")
}

#!/usr/bin/env bash
# Processes, closed loop (DESIGN.md §8, "batching never loses"): `batch-shm-demo spawn N --commit simulate --commit-cost C`
# (the records batched through one shared-memory segment) against the same run with
# `--baseline flock` (each process appends its record alone under flock), same simulated commit
# (one write, then C µs of busy wait). N = 2 8 32 × C = 0 5 50 µs, RUNS interleaved runs per cell
# (shared, flock, shared, flock, …), medians; the ratio is the median of the per-run ratios.
#   scripts/process-sweep.sh [RUNS] [path/to/batch-shm-demo]
# Environment: NS ("2 8 32"), COSTS ("0 5 50"), TOTAL (records per run, all workers together;
# default 20000), SHARED_ARGS (more options for the shared runs only, e.g. "--assume-commit-cost
# 1000"). The log goes to $TMPDIR (default /tmp); with --commit simulate its disk does not
# matter (no fdatasync).
set -euo pipefail
runs=${1:-3}
demo=${2:-.build/release/batch-shm-demo}
total=${TOTAL:-20000}
if [ ! -x "$demo" ]; then
    if [ "$demo" = .build/release/batch-shm-demo ]; then
        echo "building $demo (swift build -c release --product batch-shm-demo)" >&2
        swift build -c release --product batch-shm-demo >&2
    else
        echo "Error: $demo is not an executable; build it with: swift build -c release --product batch-shm-demo" >&2
        exit 64
    fi
fi
out=$(mktemp "${TMPDIR:-/tmp}/process-sweep.XXXXXX")
trap 'rm -f "$out"' EXIT
# Machine busy ticks (/proc/stat), this script's own and reaped children's ticks, and the time:
# the cores other processes kept busy during a cell are (busy - ours) / ticks per second / time.
cpu_sample() {
    local label u n s i w q sq st rest
    read -r label u n s i w q sq st rest </proc/stat
    local ours
    ours=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$$/stat")
    echo "$((u + n + s + q + sq + st)) $ours $(date +%s.%N)"
}
hz=$(getconf CLK_TCK)
echo "start $(date -u '+%Y-%m-%d %H:%M:%S UTC'); load average $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; commit $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo '?')"
for cost in ${COSTS:-0 5 50}; do
    for n in ${NS:-2 8 32}; do
        before=$(cpu_sample)
        for _ in $(seq 1 "$runs"); do
            # Interleaved run by run, so that both see the same machine load. The JSON is parsed
            # after all runs: an interpreter in a pipe beside a run would take a core from it.
            for mode in shared flock; do
                # shellcheck disable=SC2206 # SHARED_ARGS is split into options on purpose
                extra=(${SHARED_ARGS:-})
                [ "$mode" = flock ] && extra=(--baseline flock)
                json=$("$demo" spawn "$n" --ops $((total / n)) --commit simulate --commit-cost "$cost" "${extra[@]}" --json)
                echo "$mode $n $cost $(echo "$json" | tr -d '\n')" >>"$out"
            done
        done
        echo "others $n $cost $before $(cpu_sample) $hz" >>"$out"
    done
done
echo "end $(date -u '+%Y-%m-%d %H:%M:%S UTC'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" "$runs" <<'PY'
import json, sys, statistics
rows = {}
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    mode, n, cost, js = line.split(" ", 3)
    if mode == "others":
        b0, o0, t0, b1, o1, t1, hz = map(float, js.split())
        rows.setdefault((int(cost), int(n)), {})["others"] = max(0.0, ((b1 - b0) - (o1 - o0)) / hz / (t1 - t0))
        continue
    d = json.loads(js)
    assert d["ok"], line
    rows.setdefault((int(cost), int(n)), {}).setdefault(mode, []).append(d)
med = lambda ds, key: statistics.median(d[key] for d in ds)
def three(v):  # about three significant figures, as batch-bench prints them
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"
def rate(v):
    return f"{three(v / 1e6)} M" if v >= 1e6 else f"{three(v / 1e3)} k" if v >= 1e3 else three(v)
def judged(value, bar):
    text = f"{value:.2f}"
    if bar is not None and value < bar <= float(text):  # a miss that two decimals would round up
        text = f"{value:.3f}"
    return text if bar is None else f"{text} (bar ≥ {bar}: {'yes' if value >= bar else '**no**'})"
print(f"\nmedians of {sys.argv[2]} interleaved runs per cell (shared, flock, shared, flock, …); others: the cores "
      "other processes kept busy during the cell (/proc/stat less this script and its children)\n")
print("| N | commit | shared ops/s | mean batch | flock ops/s | shared ÷ flock | others |")
print("|---:|---|---:|---:|---:|---:|---:|")
for (cost, n), modes in sorted(rows.items()):
    s, f = modes["shared"], modes["flock"]
    ratio = statistics.median(a["ops_per_second"] / b["ops_per_second"] for a, b in zip(s, f))
    # The bars (DESIGN.md §8): shared ≥ 1.0× flock for C ≥ 5 µs, ≥ 0.5× for C = 0; mean batch ≥ 1.8 at N = 2, C = 50 µs.
    batch_bar = 1.8 if (n, cost) == (2, 50) else None
    print(f"| {n} | {cost} µs | {rate(med(s, 'ops_per_second'))} | {judged(med(s, 'mean_batch_size'), batch_bar)} "
          f"| {rate(med(f, 'ops_per_second'))} | {judged(ratio, 1.0 if cost >= 5 else 0.5)} | {modes['others']:.1f} |")
print()
for (cost, n), modes in sorted(rows.items()):
    for mode, ds in sorted((m, ds) for m, ds in modes.items() if m != "others"):
        print(f"{mode} N={n} C={cost}: " + ", ".join(f"{d['ops_per_second']:,.0f} ({d['mean_batch_size']:.2f})" for d in ds))
PY

#!/usr/bin/env bash
# Before/after tables: the same sweep cells measured with two builds (e.g. an older commit with
# this checkout's Sources/batch-bench copied in, and this checkout), alternating the two builds
# cell by cell and round by round (round 1: before, after; round 2: after, before; …), so that both
# see the same machine load. Each invocation is one run of one cell (BATCH_BENCH_RUNS=1, or one
# run of scripts/process-sweep.sh): every ratio is still taken inside one run; the table shows
# medians over the rounds.
#   scripts/before-after.sh threads|tasks ROUNDS BEFORE-batch-bench AFTER-batch-bench
#   scripts/before-after.sh processes ROUNDS BEFORE-batch-shm-demo AFTER-batch-shm-demo
#   scripts/before-after.sh SWEEP --report RAW…   (the table of earlier runs' rows, files together)
# Environment: NS and COMMITS (threads: "1 2 4 8 32", "none spin5 sleep50"; tasks: "1 8 256";
# processes: "2 8 32", COSTS "0 5 50"); BATCH_BENCH_SECONDS (default 0.3); TOTAL (processes);
# RAW=path keeps every run's row there, for --report (default: a temporary file).
set -euo pipefail
usage="usage: $0 threads|tasks|processes ROUNDS BEFORE AFTER | $0 SWEEP --report RAW..."
sweep=${1:?$usage}
report=()
if [ "${2:-}" = --report ]; then
    report=("${@:3}")
    [ ${#report[@]} -gt 0 ] || {
        echo "$usage" >&2
        exit 64
    }
    rounds=0
    raw=$(mktemp "${TMPDIR:-/tmp}/before-after.XXXXXX")
    trap 'rm -f "$raw"' EXIT
    cat "${report[@]}" >"$raw"
else
    rounds=${2:?$usage}
    before=${3:?$usage}
    after=${4:?$usage}
    for bin in "$before" "$after"; do
        [ -x "$bin" ] || {
            echo "Error: $bin is not an executable" >&2
            exit 64
        }
    done
    raw=${RAW:-$(mktemp "${TMPDIR:-/tmp}/before-after.XXXXXX")}
    : >"$raw"
fi
seconds=${BATCH_BENCH_SECONDS:-0.3}
here=$(dirname "$0")
case $sweep in
threads)
    cells=()
    for c in ${COMMITS:-none spin5 sleep50}; do for n in ${NS:-1 2 4 8 32}; do cells+=("$n:$c"); done; done
    ;;
tasks) read -r -a cells <<<"${NS:-1 8 256}" ;;
processes)
    cells=()
    for c in ${COSTS:-0 5 50}; do for n in ${NS:-2 8 32}; do cells+=("$n:$c"); done; done
    ;;
*)
    echo "Error: unknown sweep '$sweep'" >&2
    exit 64
    ;;
esac
# One run of one cell with `bin`; prints the table rows of that run.
run_cell() {
    local bin=$1 cell=$2
    case $sweep in
    threads)
        BATCH_BENCH_RUNS=1 BATCH_BENCH_SECONDS=$seconds BATCH_BENCH_N=${cell%%:*} BATCH_BENCH_COMMITS=${cell#*:} \
            "$bin" threads | grep -E '^\| [0-9]'
        ;;
    tasks) BATCH_BENCH_RUNS=1 BATCH_BENCH_SECONDS=$seconds BATCH_BENCH_N=$cell "$bin" tasks | grep -E '^\| [0-9]' ;;
    processes) NS=${cell%%:*} COSTS=${cell#*:} "$here/process-sweep.sh" 1 "$bin" | grep -E '^\| [0-9]' ;;
    esac
}
if [ "$rounds" -gt 0 ]; then
    echo "start $(date -u '+%Y-%m-%d %H:%M:%S UTC'); load average $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
    printf 'before: %s\nafter:  %s\n' "$before" "$after"
fi
for round in $(seq 1 "$rounds"); do
    sides=(before after)
    [ $((round % 2)) -eq 0 ] && sides=(after before)
    for cell in "${cells[@]}"; do
        for side in "${sides[@]}"; do
            bin=$before
            [ "$side" = after ] && bin=$after
            run_cell "$bin" "$cell" | sed "s/^/$side $round /" >>"$raw"
        done
    done
done
[ "$rounds" -eq 0 ] || echo "end $(date -u '+%Y-%m-%d %H:%M:%S UTC'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$sweep" "$raw" "$rounds" <<'PY'
import re, statistics, sys
sweep, path, measured = sys.argv[1], sys.argv[2], sys.argv[3] != "0"
def num(text):  # "23.1 M", "123 k", "0.62 (bar ≥ 1.0: **no**)", "370 k (5.82)" -> the first number
    m = re.match(r"\s*([0-9.]+)\s*([kM]?)", text)
    return float(m.group(1)) * {"": 1, "k": 1e3, "M": 1e6}[m.group(2)]
def paren(text):  # "370 k (5.82)" -> 5.82
    return float(re.search(r"\(([0-9.]+)\)", text).group(1))
def three(v):
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"
def rate(v):
    return f"{three(v / 1e6)} M" if v >= 1e6 else f"{three(v / 1e3)} k" if v >= 1e3 else three(v)
def ratio(v):
    return f"{v:.3f}" if v < 0.1 else f"{v:.2f}"
def bar_text(value, bar):
    return ratio(value) if bar is None else f"{ratio(value)} ({'yes' if value >= bar else '**no**'})"
rows = {}  # (key) -> side -> list of field lists
for line in open(path):
    side, rnd, row = line.split(" ", 2)
    f = [x.strip() for x in row.strip().strip("|").split("|")]
    rows.setdefault((f[0], f[1]), {}).setdefault(side, []).append(f)
med = statistics.median
def col(fs, i, conv=num):
    return med(conv(f[i]) for f in fs)
def others(b, a):
    vals = [float(f[-1]) for f in b + a]
    return f"{med(vals):.1f} ({min(vals):.1f}–{max(vals):.1f})"
def switches(fs):  # "1.93 (0.00)", from the runs of a harness with the columns; "?" if none
    fs = [f for f in fs if len(f) >= 12]
    return "?" if not fs else f"{col(fs, 9):.2f} ({col(fs, 10):.2f})"
def order(key):
    n, c = key
    return (c.split()[0] != "none" and c.split()[0] != "0", float(c.split()[0]) if c[0].isdigit() else 0, int(n))
counts = sorted({len(v) for sides in rows.values() for v in sides.values()})
rounds = "–".join(str(c) for c in (counts[0], counts[-1])) if counts[0] != counts[-1] else str(counts[0])
print(f"\nmedians of {rounds} run{'s' if rounds != '1' else ''} per side and cell (before and after alternated cell by cell, the order swapped each "
      "round); ratios: median of the per-run ratios; others: median (range) of the cores other processes "
      "kept busy during the runs\n")
if sweep == "threads":
    print("| threads | commit | before: batched ops/s | mean batch | mutex ops/s | batched ÷ mutex | after: batched "
          "ops/s | mean batch | mutex ops/s | batched ÷ mutex | bar | after low-level ÷ mutex (mean batch) "
          "| switches/op batched (mutex): before | after | others |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key in sorted(rows, key=order):
        b, a = rows[key]["before"], rows[key]["after"]
        n, c = int(key[0]), key[1]
        bar = None if (n, c) == (1, "none") else 0.95 if n == 1 else 0.25 if c == "none" else 1.0
        batch = col(a, 3)
        batch_text = f"{batch:.2f}" + ((" (**no**, bar ≥ 1.8)" if batch < 1.8 else " (bar ≥ 1.8: yes)")
                                       if (n, c) == (2, "50 µs sleep") else "")
        print(f"| {n} | {c} | {rate(col(b, 2))} | {col(b, 3):.2f} | {rate(col(b, 4))} | {ratio(col(b, 5))} "
              f"| {rate(col(a, 2))} | {batch_text} | {rate(col(a, 4))} | {bar_text(col(a, 5), bar)} "
              f"| {'—' if bar is None else f'≥ {bar}'} | {ratio(col(a, 8))} ({col(a, 7):.2f}) "
              f"| {switches(b)} | {switches(a)} | {others(b, a)} |")
elif sweep == "tasks":
    print("| tasks | commit | before: actor ops/s | `AsyncBatcher` ops/s (mean batch) | ÷ actor | `AsyncCoordinator.batch` "
          "ops/s (mean batch) | ÷ actor | after: actor ops/s | `AsyncBatcher` ops/s (mean batch) | ÷ actor "
          "| `AsyncCoordinator.batch` ops/s (mean batch) | ÷ actor | bar | others |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key in sorted(rows, key=lambda k: (k[1] != "none", int(k[0]))):
        b, a = rows[key]["before"], rows[key]["after"]
        n = int(key[0])
        bar = 0.95 if n == 1 else 1.0
        cells = []
        for fs, judge in ((b, False), (a, True)):
            cells += [rate(col(fs, 2)),
                      f"{rate(col(fs, 4))} ({col(fs, 4, paren):.2f})", bar_text(col(fs, 5), bar if judge else None),
                      f"{rate(col(fs, 6))} ({col(fs, 6, paren):.2f})", bar_text(col(fs, 7), bar if judge else None)]
        print(f"| {n} | {key[1]} | " + " | ".join(cells) + f" | ≥ {bar} | {others(b, a)} |")
else:
    print("| N | commit | before: shared ops/s | mean batch | flock ops/s | shared ÷ flock | after: shared ops/s "
          "| mean batch | flock ops/s | shared ÷ flock | bar | others |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key in sorted(rows, key=order):
        b, a = rows[key]["before"], rows[key]["after"]
        n, cost = int(key[0]), int(key[1].split()[0])
        bar = 1.0 if cost >= 5 else 0.5
        batch = col(a, 3)
        batch_text = f"{batch:.2f}" + ((" (**no**, bar ≥ 1.8)" if batch < 1.8 else " (bar ≥ 1.8: yes)")
                                       if (n, cost) == (2, 50) else "")
        print(f"| {n} | {key[1]} | {rate(col(b, 2))} | {col(b, 3):.2f} | {rate(col(b, 4))} | {ratio(col(b, 5))} "
              f"| {rate(col(a, 2))} | {batch_text} | {rate(col(a, 4))} | {bar_text(col(a, 5), bar)} | ≥ {bar} "
              f"| {others(b, a)} |")
if measured:
    print(f"\nevery run: {path}")
PY

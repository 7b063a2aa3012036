#!/usr/bin/env bash
# Group commit across processes (docs/DESIGN.md §8): `batch-shm-demo spawn N` against the
# flock baseline (`--baseline flock`) and against a minimal library-free group commit
# (scripts/group-commit-minimal.c), N = 1 2 4 8 16, RUNS interleaved runs per cell, medians.
#   scripts/group-commit-bench.sh [RUNS] [path/to/batch-shm-demo]
# Without a path it runs the release build of this checkout, brought up to date first.
# The log goes to $TMPDIR (default /tmp): point it at the disk to measure, never at a tmpfs.
set -euo pipefail
runs=${1:-3}
demo=$("$(dirname "$0")/release-demo.sh" "${2:-}") || exit 2
total=${TOTAL:-4000}
dir=${TMPDIR:-/tmp}
minimal=$(mktemp "$dir/group-commit-minimal.XXXXXX")
out=$(mktemp "$dir/group-commit-bench.XXXXXX")
trap 'rm -f "$minimal" "$out"' EXIT
cc -O2 -Wall -o "$minimal" "$(dirname "$0")/group-commit-minimal.c"
for n in ${NS:-1 2 4 8 16}; do
    for _ in $(seq 1 "$runs"); do
        # Interleaved run by run, so that the three see the same machine load.
        "$demo" spawn "$n" --ops $((total / n)) --json | tr -d '\n' | sed "s/^/shared $n /;s/$/\n/" >>"$out"
        "$demo" spawn "$n" --ops $((total / n)) --baseline flock --json | tr -d '\n' | sed "s/^/flock $n /;s/$/\n/" >>"$out"
        "$minimal" "$n" $((total / n)) "$dir" | awk -v n="$n" '/^minimal N=/ {print "minimal " n " {\"ops_per_second\": " $4 ", \"ok\": true}"}' >>"$out"
    done
done
python3 - "$out" "$runs" <<'PY'
import json, sys, statistics
rows = {}
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    mode, n, js = line.split(" ", 2)
    d = json.loads(js)
    assert d["ok"], line
    rows.setdefault((mode, int(n)), []).append(d)
med = lambda mode, n, key: statistics.median(d[key] for d in rows[(mode, n)])
print(f"medians of {sys.argv[2]} interleaved runs per cell\n")
print("| N | shared ops/s | mean batch | flock baseline ops/s | shared ÷ flock | minimal ops/s | minimal ÷ flock |")
print("|---:|---:|---:|---:|---:|---:|---:|")
for n in sorted({k[1] for k in rows}):
    s, b, f = med("shared", n, "ops_per_second"), med("flock", n, "ops_per_second"), med("minimal", n, "ops_per_second")
    m = med("shared", n, "mean_batch_size")
    print(f"| {n} | {s:,.0f} | {m:.2f} | {b:,.0f} | {s/b:.2f}× | {f:,.0f} | {f/b:.2f}× |")
print()
for (mode, n), ds in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    print(f"{mode} N={n}: " + ", ".join(f"{d['ops_per_second']:,.0f}" for d in ds))
PY

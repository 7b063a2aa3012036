#!/usr/bin/env bash
# Crash torture (docs/DESIGN.md §8): runs `batch-shm-demo spawn` RUNS times with kill -9 injected at
# random phases (queued, entered, waiting, committing), and sums up: kills, runs whose log check
# failed (a lost or duplicated acknowledged record, or a record of a failed batch in the log),
# and hangs (a run that did not end within its time limit).
#   scripts/crash-torture.sh [RUNS] [path/to/batch-shm-demo]
# Without a path it runs the release build of this checkout, brought up to date first.
set -uo pipefail
runs=${1:-170}
demo=$("$(dirname "$0")/release-demo.sh" "${2:-}") || exit 2
kills=0 failed=0 hung=0 recovered=0
for i in $(seq 1 "$runs"); do
    out=$(timeout --signal=KILL 90 "$demo" spawn 6 --ops 40 --crash random --crash-count 3 --seed "$i" \
        --timeout 60 --json 2>/dev/null)
    rc=$?
    if [ $rc -eq 137 ] || [ -z "$out" ]; then hung=$((hung + 1)); echo "run $i: no answer (rc $rc)"; continue; fi
    read -r injected rec ok < <(printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["crashes_injected"], d["crashes_recovered"], 1 if d["ok"] else 0)')
    kills=$((kills + injected)); recovered=$((recovered + rec))
    if [ "$ok" != 1 ] || [ $rc -ne 0 ]; then failed=$((failed + 1)); echo "run $i: FAILED: $out"; fi
done
echo "crash torture: $runs runs, $kills workers killed with SIGKILL, $recovered deaths recovered, $failed failed log checks, $hung hangs"
[ $failed -eq 0 ] && [ $hung -eq 0 ]

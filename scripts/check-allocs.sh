#!/usr/bin/env bash
# Shows that the low-level and the safe in-process API allocate nothing per operation: runs
# `batch-bench allocs MODE N` under valgrind for two values of N and compares the numbers of heap
# allocations. Equal counts mean zero allocations per op.
#   scripts/check-allocs.sh [path/to/batch-bench]
set -euo pipefail
bench=${1:-.build/release/batch-bench}
# valgrind 3.19 cannot read the DWARF 5 the Swift toolchain emits: measure a stripped copy.
stripped=$(mktemp)
trap 'rm -f "$stripped"' EXIT
strip -o "$stripped" "$bench"
bench=$stripped
status=0
for mode in low safe; do
    counts=()
    for n in 1000 101000; do
        out=$(valgrind --tool=memcheck "$bench" allocs "$mode" "$n" 2>&1 >/dev/null)
        c=$(printf '%s\n' "$out" | sed -n 's/.*total heap usage: \([0-9,]*\) allocs.*/\1/p' | tr -d ,)
        [ -n "$c" ] || { printf '%s\n' "$out"; echo "check-allocs: no heap summary from valgrind" >&2; exit 1; }
        counts+=("$c")
    done
    per_op=$(( (counts[1] - counts[0]) ))
    echo "allocs $mode: ${counts[0]} allocations for 1000 ops, ${counts[1]} for 101000 ops (difference $per_op over 100000 ops)"
    [ "$per_op" -eq 0 ] || status=1
done
[ $status -eq 0 ] && echo "check-allocs: no heap allocation per operation" || echo "check-allocs: FAILED: allocations grow with the number of operations" >&2
exit $status

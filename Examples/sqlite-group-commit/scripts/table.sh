#!/usr/bin/env bash
# Measures plain against batched mode for several N in the same run (the modes alternate, run
# after run, so that both see the same machine) and prints the Markdown table of Examples/README.md.
#
#   scripts/table.sh [RUNS]        RUNS runs of each (N, mode), default 3; the medians are shown
#                                  (of max latency too), and the range of rows/s; × is the median
#                                  of the per-round ratios (second mode ÷ first, same round)
#
# Environment: WORKERS (default "1 2 4 8 16"), MODES (default "plain batched"), ROWS per worker
# (default 200), EXTRA (more spawn options, e.g. "--tasks 4"), BIN (a binary to run instead of
# building this package's release binary), RAW (a file that keeps every run's JSON, one a line;
# default: a temporary file). Needs jq.
# A mode this build cannot run (batched before AsyncSharedBatcher) shows as n/a.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v jq >/dev/null || { echo "table.sh needs jq (apt-get install jq)" >&2; exit 1; }
runs=${1:-3}
workers=${WORKERS:-1 2 4 8 16}
modes=${MODES:-plain batched}
rows=${ROWS:-200}
extra=${EXTRA:-}
if [ -n "${BIN:-}" ]; then
    bin=$BIN
else
    swift build -c release --product sqlite-group-commit >&2
    bin=.build/release/sqlite-group-commit
fi
if [ -n "${RAW:-}" ]; then
    results=$RAW
    : >"$results"
else
    results=$(mktemp)
    trap 'rm -f "$results"' EXIT
fi

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs" >&2
# Round-robin: every round runs each N in each mode once, so that a noisy minute (the disk is
# shared) spreads over all of them instead of spoiling one.
for run in $(seq "$runs"); do
    for n in $workers; do
        for mode in $modes; do
            # shellcheck disable=SC2086
            if out=$(timeout 900 "$bin" spawn "$n" --mode "$mode" --rows "$rows" --json $extra 2>/dev/null); then
                echo "$out" >>"$results"
            elif [ -n "$out" ]; then
                echo "$out" >>"$results"  # the check failed: shown in the ok column
            fi
            echo "  N=$n $mode run $run: $(echo "${out:-{\}}" | jq -r '"\(.rows_per_second // "n/a") rows/s"')" >&2
        done
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

jq -rs --arg workers "$workers" --arg modes "$modes" '
    def median: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
    def fmt(d): if . == null then "n/a" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
    def cell(n; m; f): [.[] | select(.workers == n and .mode == m) | f] | median;
    . as $all
    | ($modes | split(" ")) as $ms
    | "| N | " + ([$ms[] | "\(.) rows/s | \(.) p50 ms | \(.) p99 ms | \(.) max ms | \(.) mean batch"] | join(" | "))
        + (if ($ms | length) == 2 then " | × |" else " |" end) + " busy errors (" + ($ms | join(" / ")) + ") | lost / duplicated | load | ok |",
      "|" + ([range(0; 1 + 5 * ($ms | length) + 4 + (if ($ms | length) == 2 then 1 else 0 end))] | map("---") | join("|")) + "|",
      ($workers | split(" ") | map(tonumber)[] as $n
        | [$ms[] as $m | $all | cell($n; $m; .rows_per_second), cell($n; $m; .p50_ms), cell($n; $m; .p99_ms),
            cell($n; $m; .max_ms), cell($n; $m; .mean_batch_size)] as $c
        | [$ms[] as $m | [$all[] | select(.workers == $n and .mode == $m) | .rows_per_second]
            | if length > 1 then " (\(min | fmt(0))–\(max | fmt(0)))" else "" end] as $range
        | "| \($n) | "
          + ([range(0; $c | length) as $i | ($c[$i] | fmt(if $i % 5 == 0 then 0 else 2 end))
                + (if $i % 5 == 0 and $c[$i] != null then $range[$i / 5] else "" end)] | join(" | "))
          + (if ($ms | length) == 2 then
                " | " + ([$all[] | select(.workers == $n and .mode == $ms[0]) | .rows_per_second] as $a
                    | [$all[] | select(.workers == $n and .mode == $ms[1]) | .rows_per_second] as $b
                    | [range(0; [$a, $b] | map(length) | min) | select($a[.] > 0) | $b[.] / $a[.]]
                    | median | fmt(1))
             else "" end)
          + " | " + ([$ms[] as $m | [$all[] | select(.workers == $n and .mode == $m) | .busy_errors] | add // 0 | tostring]
                | join(" / "))
          + " | " + ([$all[] | select(.workers == $n) | .lost] | add // 0 | tostring) + " / "
                + ([$all[] | select(.workers == $n) | .duplicated] | add // 0 | tostring)
          + " | " + ([$all[] | select(.workers == $n) | .load_average] | (min | tostring) + "–" + (max | tostring))
          + " | " + (if all($all[] | select(.workers == $n); .ok) then "all" else "NOT ALL" end) + " |")
' "$results"

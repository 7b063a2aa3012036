#!/usr/bin/env bash
# Builds the segment fuzz target (fuzz/SegmentFuzz.swift, libFuzzer + AddressSanitizer) from the
# package's sources with swiftc, and runs it for a bounded time over a copy of fuzz/corpus.
#
#   fuzz/run.sh [SECONDS]     default 60; exit status non-zero when the fuzzer found a crash,
#                             a leak-free timeout (a hang: -timeout) or a sanitizer report.
#
# Build products, the working corpus and any crash input go to $FUZZ_OUT (default
# ${TMPDIR:-/tmp}/swift-batch-fuzz). Linux only, like the package.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
out=${FUZZ_OUT:-${TMPDIR:-/tmp}/swift-batch-fuzz}
clang=$(dirname "$(command -v swiftc)")/clang
mkdir -p "$out/obj" "$out/mods" "$out/corpus"

# The C targets, as SwiftPM builds them, and module maps for swiftc to import them.
inc=(-I "$root/Sources/CBatchCore/include" -I "$root/Sources/CShmSync/include")
cat >"$out/mods/module.modulemap" <<MAP
module CBatchCore { header "$root/Sources/CBatchCore/include/CBatchCore.h" export * }
module CShmSync { header "$root/Sources/CShmSync/include/CShmSync.h" export * }
MAP
for c in "$root"/Sources/CBatchCore/*.c "$root"/Sources/CShmSync/*.c; do
    "$clang" -c -O1 -g -fsanitize=fuzzer-no-link,address "${inc[@]}" "$c" -o "$out/obj/$(basename "$c" .c).o"
done

# Batch and BatchIPC as modules, instrumented; then the target, linked with libFuzzer.
swift=(swiftc -O -g -sanitize=fuzzer,address -parse-as-library -package-name swift_batch -I "$out/mods"
    -Xcc -I -Xcc "$root/Sources/CBatchCore/include" -Xcc -I -Xcc "$root/Sources/CShmSync/include")
build_module() { # NAME DIR
    "${swift[@]}" -wmo -module-name "$1" -emit-module -emit-module-path "$out/mods/$1.swiftmodule" \
        -c $(find "$root/Sources/$2" -name '*.swift' | sort) -o "$out/obj/$1.o"
}
build_module Batch Batch
build_module BatchIPC BatchIPC
"${swift[@]}" -module-name SegmentFuzz "$root/fuzz/SegmentFuzz.swift" "$out"/obj/*.o -o "$out/segment-fuzz"

# A bounded run: -timeout makes a hang (an input running longer) a finding.
"$out/segment-fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/" "$out/corpus" "$root/fuzz/corpus"

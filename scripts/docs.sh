#!/usr/bin/env bash
# Builds the DocC documentation of the Batch and BatchIPC modules with the toolchain's own
# `docc` (no plugin, no network) and fails on any warning: a broken symbol link, an
# undocumented parameter, a catalog page that does not resolve.
#
#   scripts/docs.sh [OUTPUT-DIR]
#
# OUTPUT-DIR (default: a new directory under $TMPDIR) receives
#   Batch.doccarchive, BatchIPC.doccarchive   one archive per module
#   swift-batch.doccarchive                   both merged, links between them working
#   symbol-graphs/, docc-*.log                what docc read and said
# Nothing is written into the source tree; the symbol graphs SwiftPM dumps under .build are
# removed once copied. It runs `swift package dump-symbol-graph`, which builds what is not
# built yet.
#
# How: the symbol graphs of the public API (the `_`-prefixed "Not API" symbols are left out by
# the extractor), one directory per module; Batch's archive is built with external link
# support, so that BatchIPC's pages can link to Batch's symbols (written ``/Batch/Name`` in
# BatchIPC's doc comments and catalog).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
if [ $# -gt 1 ] || { [ $# -eq 1 ] && [ -z "$1" ]; }; then
    echo "Error: expected at most one argument, a non-empty OUTPUT-DIR" >&2
    echo "Usage: scripts/docs.sh [OUTPUT-DIR]" >&2
    echo "See 'scripts/docs.sh --help' for more information." >&2
    exit 64
fi
out=${1:-$(mktemp -d "${TMPDIR:-/tmp}/swift-batch-docs.XXXXXX")}
mkdir -p "$out"
out=$(cd "$out" && pwd)

docc=${DOCC:-$(command -v docc || true)}
if [ -z "$docc" ]; then
    swift_bin=$(command -v swift) || { echo "docs.sh: no swift on PATH" >&2; exit 1; }
    docc=$(dirname "$(readlink -f "$swift_bin")")/docc
fi
[ -x "$docc" ] || { echo "docs.sh: no docc (looked next to swift; set DOCC=/path/to/docc)" >&2; exit 1; }

# 1. Symbol graphs, public API only, copied per module. SwiftPM dumps every module's graph;
# it fails on the test modules when the tests are not built, which is no concern here: only
# Batch's and BatchIPC's graphs must come out of this run.
dump_log="$out/dump-symbol-graph.log"
dumped=$(cd "$(swift build --show-bin-path)/.." && pwd)/symbolgraph
case "$dumped" in
    "$PWD"/.build/*) rm -rf "$dumped" ;;  # SwiftPM's own output: a fresh dump, and no stale graph
    *) echo "docs.sh: unexpected symbol graph directory $dumped" >&2; exit 1 ;;
esac
swift package dump-symbol-graph --minimum-access-level public >"$dump_log" 2>&1 || true
for module in Batch BatchIPC; do
    if [ ! -s "$dumped/$module.symbols.json" ] || grep -q "symbol graph for '$module'" "$dump_log"; then
        cat "$dump_log" >&2
        echo "docs.sh: no symbol graph for $module (swift package dump-symbol-graph, above)" >&2
        exit 1
    fi
done
rm -rf "$out/symbol-graphs"
for module in Batch BatchIPC; do
    mkdir -p "$out/symbol-graphs/$module"
    # The module's own graph, and its extensions of other modules' types (Module@Other).
    cp "$dumped/$module.symbols.json" "$out/symbol-graphs/$module/"
    for extension in "$dumped/$module"@*.symbols.json; do
        if [ -e "$extension" ]; then cp "$extension" "$out/symbol-graphs/$module/"; fi
    done
done
rm -rf "$dumped"

# 2. One archive per module, warnings are errors; then both merged. docc leaves empty
# directories in $TMPDIR: it gets one of its own here, removed at the end.
docc_tmp="$out/docc-tmp"
mkdir -p "$docc_tmp"
convert() {  # MODULE [docc options…]
    local module=$1 status=0
    shift
    rm -rf "$out/$module.doccarchive"
    TMPDIR="$docc_tmp" "$docc" convert "Sources/$module/$module.docc" \
        --additional-symbol-graph-dir "$out/symbol-graphs/$module" \
        --fallback-display-name "$module" --fallback-bundle-identifier "swift-batch.$module" \
        --enable-inherited-docs --warnings-as-errors \
        --output-path "$out/$module.doccarchive" "$@" >"$out/docc-$module.log" 2>&1 || status=$?
    if [ "$status" -ne 0 ] || grep -qE '(warning|error):' "$out/docc-$module.log"; then
        cat "$out/docc-$module.log" >&2
        echo "docs.sh: $module: docc found problems (above; also in $out/docc-$module.log)" >&2
        exit 1
    fi
}
convert Batch --enable-experimental-external-link-support
convert BatchIPC --enable-experimental-external-link-support --dependency "$out/Batch.doccarchive"

rm -rf "$out/swift-batch.doccarchive"
status=0
TMPDIR="$docc_tmp" "$docc" merge "$out/Batch.doccarchive" "$out/BatchIPC.doccarchive" \
    --synthesized-landing-page-name swift-batch --output-path "$out/swift-batch.doccarchive" >"$out/docc-merge.log" 2>&1 || status=$?
if [ "$status" -ne 0 ] || grep -qE '(warning|error):' "$out/docc-merge.log"; then
    cat "$out/docc-merge.log" >&2
    echo "docs.sh: docc merge found problems (above)" >&2
    exit 1
fi

rm -rf "$docc_tmp"

echo "docs.sh: Batch and BatchIPC built without warnings"
echo "docs.sh: documentation in $out/swift-batch.doccarchive (each module alone: $out/Batch.doccarchive, $out/BatchIPC.doccarchive)"
echo "docs.sh: to browse it: python3 -m http.server --directory $out/swift-batch.doccarchive 8000, then open http://localhost:8000/documentation/batch"

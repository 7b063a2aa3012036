#!/usr/bin/env bash
# Prints the path of the batch-shm-demo the scripts run: the one given as $1, which must exist,
# or the release build of this checkout, built first if it is missing.
#   scripts/release-demo.sh [path/to/batch-shm-demo]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
demo=${1:-}
if [ -z "$demo" ]; then
    demo="$root/.build/release/batch-shm-demo"
    if [ ! -x "$demo" ]; then
        echo "$demo is missing: building it (swift build -c release --product batch-shm-demo)" >&2
        swift build -c release --package-path "$root" --product batch-shm-demo >&2 || {
            echo "the release build of batch-shm-demo failed" >&2
            exit 1
        }
    fi
fi
if [ ! -x "$demo" ]; then
    echo "$demo: no such executable (build one with: swift build -c release --product batch-shm-demo)" >&2
    exit 2
fi
echo "$demo"

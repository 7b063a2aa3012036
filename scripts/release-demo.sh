#!/usr/bin/env bash
# Prints the path of the batch-shm-demo the scripts run: the one given as $1, which must be an
# executable, or else the release build of this checkout, brought up to date first (a no-op
# when it is, so that a script never measures a binary older than the sources).
#   scripts/release-demo.sh [path/to/batch-shm-demo]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
demo=${1:-}
if [ -z "$demo" ]; then
    demo="$root/.build/release/batch-shm-demo"
    echo "release build of batch-shm-demo (swift build -c release --product batch-shm-demo)" >&2
    swift build -c release --package-path "$root" --product batch-shm-demo >&2 || {
        echo "the release build of batch-shm-demo failed" >&2
        exit 1
    }
fi
if [ ! -x "$demo" ]; then
    echo "$demo: no such executable (build one with: swift build -c release --product batch-shm-demo)" >&2
    exit 2
fi
echo "$demo"

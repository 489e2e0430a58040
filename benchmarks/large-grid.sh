#!/usr/bin/env bash
# Time of the slurm executor's three steps on large grids, over a real sshd on 127.0.0.1 (SLURM
# stood in for by Tests/peers/fake-slurm, whose sbatch finishes every task at once): submit (the
# task files as one archive, one job array per MaxArraySize), status (one round trip) and harvest
# (one archive of every output). Prints each figure and the per-task cost at each size.
# usage: benchmarks/large-grid.sh [SIZES]   (default 1000,30000; needs root for sshd, as CI has)
set -euo pipefail
SIZES=${1:-1000,30000}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
swift build --build-tests >/dev/null
OUT=$(CLOUDC_GRID_SIZES="$SIZES" swift test --skip-build --filter LargeGridTests 2>&1) || { echo "$OUT" | tail -20; exit 1; }
echo "$OUT" | grep '^timing: grid' | sed 's/^timing: //' | while read -r line; do
    size=$(echo "$line" | sed 's/grid of \([0-9]*\) tasks.*/\1/')
    submit=$(echo "$line" | sed 's/.*submit \([0-9.]*\) s.*/\1/')
    status=$(echo "$line" | sed 's/.*status \([0-9.]*\) s.*/\1/')
    harvest=$(echo "$line" | sed 's/.*harvest \([0-9.]*\) s.*/\1/')
    awk -v n="$size" -v a="$submit" -v b="$status" -v c="$harvest" 'BEGIN {
        printf "%6d tasks: submit %7.2f s (%.2f ms/task)  status %6.2f s (%.3f ms/task)  harvest %7.2f s (%.2f ms/task)\n",
               n, a, 1000*a/n, b, 1000*b/n, c, 1000*c/n }'
done

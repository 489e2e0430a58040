#!/usr/bin/env bash
# Wall time of the first `cloudc setup` of a local cluster (1 frontend + COMPUTE compute
# nodes, systemd-nspawn, as root) and of a second, idempotent one; prints both and their
# ratio, plus the time from start to booted nodes and of stop.
# usage: benchmarks/local-setup.sh [COMPUTE]   (builds release unless CLOUDC=path is set)
set -euo pipefail
COMPUTE=${1:-2}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CLOUDC=${CLOUDC:-}
if [ -z "$CLOUDC" ]; then (cd "$ROOT" && swift build -c release >/dev/null); CLOUDC="$(cd "$ROOT" && swift build -c release --show-bin-path)/cloudc"; fi
WORK=$(mktemp -d)
export CLOUDC_HOME="$WORK/cloudc" CLOUDC_SHARE="$ROOT"
mkdir -p "$CLOUDC_HOME"
ssh-keygen -q -t ed25519 -N "" -f "$WORK/id_ed25519"
cat >"$CLOUDC_HOME/config.yaml" <<YAML
clouds:
  local: {provider: local, root: $WORK/nodes}
logins:
  default: {user: root, private_key: $WORK/id_ed25519}
setups:
  slurm: {playbook: slurm}
clusters:
  bench:
    cloud: local
    setup: slurm
    groups:
      frontend: {count: 1}
      compute:  {count: $COMPUTE}
YAML
trap '"$CLOUDC" stop -q bench >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
now() { date +%s.%N; }
t0=$(now); "$CLOUDC" start bench --no-setup >/dev/null 2>"$WORK/start.log" || { cat "$WORK/start.log"; exit 1; }; t1=$(now)
grep -h "Raised fs.inotify" "$WORK/start.log" || true   # a large cluster needs root's inotify limits raised
"$CLOUDC" setup -q bench; t2=$(now)
"$CLOUDC" setup -q bench; t3=$(now)
"$CLOUDC" stop -q bench; t4=$(now)
trap 'rm -rf "$WORK"' EXIT
first=$(echo "$t2 - $t1" | bc); second=$(echo "$t3 - $t2" | bc)
printf 'nodes:              1 frontend + %d compute\n' "$COMPUTE"
printf 'start (no setup):   %6.1f s\n' "$(echo "$t1 - $t0" | bc)"
printf 'first setup:        %6.1f s\n' "$first"
printf 'second setup:       %6.1f s   (%.0f%% of the first)\n' "$second" "$(echo "100 * $second / $first" | bc -l)"
printf 'stop:               %6.1f s\n' "$(echo "$t4 - $t3" | bc)"

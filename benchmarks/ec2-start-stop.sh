#!/usr/bin/env bash
# Wall time of `cloudc start` + `cloudc stop` of a 10-node cluster (1 frontend + 9 compute)
# against moto_server with signature checking on. Prints each run and the median.
# usage: benchmarks/ec2-start-stop.sh [RUNS]   (builds release unless CLOUDC=path is set)
set -euo pipefail
RUNS=${1:-3}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CLOUDC=${CLOUDC:-}
if [ -z "$CLOUDC" ]; then (cd "$ROOT" && swift build -c release >/dev/null); CLOUDC="$(cd "$ROOT" && swift build -c release --show-bin-path)/cloudc"; fi
WORK=$(mktemp -d)
PEERS="$ROOT/Tests/peers"
source "$(dirname "$0")/../scripts/lib/moto.sh"
export CLOUDC_HOME="$WORK/cloudc" CLOUDC_POLL_SECONDS=${CLOUDC_POLL_SECONDS:-0.5}
mkdir -p "$CLOUDC_HOME"
ssh-keygen -q -t ed25519 -N "" -f "$WORK/id_ed25519"
cat >"$CLOUDC_HOME/config.yaml" <<YAML
clouds:
  aws: {provider: ec2, region: us-east-1, endpoint: "$MOTO_ENDPOINT"}
logins:
  default: {user: ubuntu, private_key: $WORK/id_ed25519}
clusters:
  bench:
    cloud: aws
    image: ami-785db401
    ssh_from: 203.0.113.0/24
    groups:
      frontend: {count: 1, flavor: t3.medium}
      compute:  {count: 9, flavor: c5.xlarge, disk_gb: 50}
YAML
now() { date +%s.%N; }
starts=(); stops=()
for run in $(seq "$RUNS"); do
    t0=$(now); "$CLOUDC" start bench --no-setup -q >/dev/null; t1=$(now)
    "$CLOUDC" stop bench -q; t2=$(now)
    s=$(echo "$t1 - $t0" | bc); p=$(echo "$t2 - $t1" | bc)
    starts+=("$s"); stops+=("$p")
    printf 'run %d: start %6.2f s   stop %6.2f s   total %6.2f s\n' "$run" "$s" "$p" "$(echo "$s + $p" | bc)"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms=$(median "${starts[@]}"); mp=$(median "${stops[@]}")
printf 'median (10 nodes, moto, poll %ss): start %.2f s   stop %.2f s   start+stop %.2f s   per node %.3f s\n' \
    "$CLOUDC_POLL_SECONDS" "$ms" "$mp" "$(echo "$ms + $mp" | bc)" "$(echo "($ms + $mp) / 10" | bc -l)"

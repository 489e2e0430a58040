#!/usr/bin/env bash
# Wall time of `cloudc start` + `cloudc stop` of a 10-node cluster (1 frontend + 9 compute)
# against moto_server with signature checking on. Prints each run and the median.
# usage: benchmarks/ec2-start-stop.sh [RUNS]   (builds debug unless CLOUDC=path is set)
set -euo pipefail
RUNS=${1:-3}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CLOUDC=${CLOUDC:-}
if [ -z "$CLOUDC" ]; then (cd "$ROOT" && swift build -c release >/dev/null); CLOUDC="$(cd "$ROOT" && swift build -c release --show-bin-path)/cloudc"; fi
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MOTO_ENABLE_AMI_VALIDATION=true MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION=true MOTO_ENABLE_KEYPAIR_VALIDATION=true \
    moto_server -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
cleanup() { kill -9 "$MOTO_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/moto-api/data.json" >/dev/null && break; sleep 0.1; done
KEYS=$(python3 "$ROOT/Tests/peers/moto_setup.py" "http://127.0.0.1:$PORT")
export AWS_ACCESS_KEY_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_key_id"])' "$KEYS")
export AWS_SECRET_ACCESS_KEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secret_access_key"])' "$KEYS")
export CLOUDC_HOME="$WORK/cloudc" CLOUDC_POLL_SECONDS=${CLOUDC_POLL_SECONDS:-0.5}
mkdir -p "$CLOUDC_HOME"
ssh-keygen -q -t ed25519 -N "" -f "$WORK/id_ed25519"
cat >"$CLOUDC_HOME/config.yaml" <<YAML
clouds:
  aws: {provider: ec2, region: us-east-1, endpoint: "http://127.0.0.1:$PORT"}
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

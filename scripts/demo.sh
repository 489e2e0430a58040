#!/usr/bin/env bash
# The main job, on this machine alone: start moto_server (a local EC2) on 127.0.0.1, start a
# 1 frontend + 2 compute cluster on it with cloudc, list its nodes, stop it, verify nothing
# is left. Uses a throw-away CLOUDC_HOME; touches no real cloud.
set -euo pipefail
CLOUDC=${1:-$(cd "$(dirname "$0")/.." && swift build --show-bin-path)/cloudc}
PEERS="$(cd "$(dirname "$0")/../Tests/peers" && pwd)"
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MOTO_ENABLE_AMI_VALIDATION=true MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION=true MOTO_ENABLE_KEYPAIR_VALIDATION=true \
    moto_server -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
cleanup() { kill -9 "$MOTO_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/moto-api/data.json" >/dev/null && break; sleep 0.1; done
KEYS=$(python3 "$PEERS/moto_setup.py" "http://127.0.0.1:$PORT")
export AWS_ACCESS_KEY_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_key_id"])' "$KEYS")
export AWS_SECRET_ACCESS_KEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secret_access_key"])' "$KEYS")
export CLOUDC_HOME="$WORK/cloudc" CLOUDC_POLL_SECONDS=0.2
mkdir -p "$CLOUDC_HOME"
ssh-keygen -q -t ed25519 -N "" -f "$WORK/id_ed25519"
cat >"$CLOUDC_HOME/config.yaml" <<YAML
clouds:
  aws:
    provider: ec2
    region: us-east-1
    endpoint: http://127.0.0.1:$PORT
logins:
  default:
    user: ubuntu
    private_key: $WORK/id_ed25519
clusters:
  demo:
    cloud: aws
    image: ami-785db401
    ssh_from: 203.0.113.0/24
    groups:
      frontend: {count: 1, flavor: t3.medium}
      compute:  {count: 2, flavor: c5.xlarge}
YAML
set -x
"$CLOUDC" list-templates
"$CLOUDC" start demo --no-setup
"$CLOUDC" list
"$CLOUDC" list-nodes
"$CLOUDC" stop
set +x
python3 "$PEERS/ec2_inventory.py" "http://127.0.0.1:$PORT" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" demo \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); left=len(d["live_instances"])+len(d["key_pairs"])+len(d["security_groups"]); print("left behind in the cloud:", left); sys.exit(1 if left else 0)'

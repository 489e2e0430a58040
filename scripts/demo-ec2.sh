#!/usr/bin/env bash
# The EC2 path, on this machine alone: start moto_server (a local EC2) on 127.0.0.1, start a
# 1 frontend + 2 compute cluster on it with cloudc, list its nodes, stop it, verify nothing
# is left. Uses a throw-away CLOUDC_HOME; touches no real cloud.
set -euo pipefail
CLOUDC=${1:-$(cd "$(dirname "$0")/.." && swift build --show-bin-path)/cloudc}
PEERS="$(cd "$(dirname "$0")/../Tests/peers" && pwd)"
WORK=$(mktemp -d)
source "$(dirname "$0")/lib/moto.sh"
export CLOUDC_HOME="$WORK/cloudc" CLOUDC_POLL_SECONDS=0.2
mkdir -p "$CLOUDC_HOME"
ssh-keygen -q -t ed25519 -N "" -f "$WORK/id_ed25519"
cat >"$CLOUDC_HOME/config.yaml" <<YAML
clouds:
  aws:
    provider: ec2
    region: us-east-1
    endpoint: $MOTO_ENDPOINT
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
python3 "$PEERS/ec2_inventory.py" "$MOTO_ENDPOINT" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" demo \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); left=len(d["live_instances"])+len(d["key_pairs"])+len(d["security_groups"]); print("left behind in the cloud:", left); sys.exit(1 if left else 0)'

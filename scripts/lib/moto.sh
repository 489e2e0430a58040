# Sourced by the demo and the benchmark: starts moto_server (a local EC2; Tests/peers/moto_peer.py,
# which gives each instance a console with its SSH host keys) on a free port of
# 127.0.0.1 with validation on, creates an IAM user, turns signature checking on, and exports
# MOTO_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY. Stops moto (by PID) and removes
# $WORK on exit. Needs: WORK (a temporary directory) and PEERS (Tests/peers).
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MOTO_ENABLE_AMI_VALIDATION=true MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION=true MOTO_ENABLE_KEYPAIR_VALIDATION=true \
    python3 "$PEERS/moto_peer.py" -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
cleanup() { kill -9 "$MOTO_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/moto-api/data.json" >/dev/null && break; sleep 0.1; done
export MOTO_ENDPOINT="http://127.0.0.1:$PORT"
KEYS=$(python3 "$PEERS/moto_setup.py" "$MOTO_ENDPOINT")
AWS_ACCESS_KEY_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_key_id"])' "$KEYS")
AWS_SECRET_ACCESS_KEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secret_access_key"])' "$KEYS")
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY

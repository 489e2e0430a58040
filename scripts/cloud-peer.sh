#!/usr/bin/env bash
# A local cloud to try cloudc on, whose instances boot as VM-like nodes on this machine.
#
#   sudo bash scripts/cloud-peer.sh start gce DIR    # then: CLOUDC_HOME=DIR cloudc start gce
#   sudo bash scripts/cloud-peer.sh stop DIR
#
# `start gce DIR` starts, in the background, the local Compute Engine (Tests/peers/gce_peer.py,
# which checks every request against Google's own discovery document), the VM-like nodes behind
# its instances (Tests/peers/vm_nodes.py: systemd-nspawn machines booted from a stock Debian 12
# image, with a guest agent that makes the login user from the instance's ssh-keys a while after
# sshd answers), and the package cache the nodes install through (Tests/peers/package_cache.py:
# the nodes have no route out). It writes DIR/config.yaml: a cloud `gce` pointing at the peer,
# the non-root login `admin` with a key made in DIR, and a cluster template `gce` of 1 frontend +
# 2 compute + 1 gpu node (1 GPU). `stop DIR` stops all of it and removes every node, bridge,
# mount and folder it made.
#
# Needs root (nspawn, bridges, mounts) and what scripts/install-deps.sh installs. The first start
# builds the stock image with debootstrap (a few minutes, once per machine).
# CLOUD_PEER_USER_DELAY (seconds, default 5): how long after sshd answers the login user appears.
# CLOUD_PEER_PACKAGE_CACHE: a folder to keep fetched packages in between peers (default: DIR's own).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
peers=$repo/Tests/peers

die() { echo "cloud-peer: $*" >&2; exit 1; }

# Runs "$@" in the background with its output in the file $1 and no other descriptor of ours:
# a caller that waits for the end of this script's output (a test, `$(…)`) is not held up by it.
daemon() {
    local log=$1
    shift
    (
        for fd in /proc/$BASHPID/fd/*; do
            fd=${fd##*/}
            [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
        done
        exec "$@"
    ) > "$log" 2>&1 < /dev/null &
}

# Waits up to $2 seconds for the file $1 (a port, written whole once something listens).
wait_for_file() {
    local file=$1 seconds=$2 pid=$3 log=$4 i
    for ((i = 0; i < seconds * 10; i++)); do
        [ -s "$file" ] && return 0
        kill -0 "$pid" 2>/dev/null || { tail -20 "$log" >&2; die "$(basename "$log" .log) exited"; }
        sleep 0.1
    done
    tail -20 "$log" >&2
    die "$(basename "$log" .log) did not start within $seconds s"
}

start_gce() {
    local dir=$1
    [ "$(id -u)" = 0 ] || die "needs root: the nodes are systemd-nspawn machines on a bridge"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ -e "$dir/pids" ] && die "$dir holds a running peer already: bash scripts/cloud-peer.sh stop $dir"
    bash "$peers/fetch-compute-discovery.sh" >&2
    mkdir -p "$dir/credentials"
    python3 "$peers/gce_credentials.py" make "$dir/credentials" --project cloudc-peer > "$dir/credentials/made.json"
    : > "$dir/pids"

    # A network of its own: the first 10.91.N.0/24 no interface of this machine has.
    local n
    for n in $(seq 1 250); do
        ip -4 -o addr show | grep -q " 10\.91\.$n\." || break
    done
    echo "$n" > "$dir/subnet"

    daemon "$dir/package-cache.log" python3 -u "$peers/package_cache.py" \
        --cache "${CLOUD_PEER_PACKAGE_CACHE:-$dir/package-cache}" \
        --port-file "$dir/package-cache.port" --stats "$dir/package-cache.json"
    echo $! >> "$dir/pids"
    wait_for_file "$dir/package-cache.port" 15 $! "$dir/package-cache.log"

    daemon "$dir/peer.log" python3 -u "$peers/gce_peer.py" --discovery "$repo/.peers/compute.v1.json" \
        --accounts "$dir/credentials/accounts.json" --project cloudc-peer --port-file "$dir/peer.port" \
        --step-seconds 0.5 --nodes "$dir/vm" --node-tag "g$n" --node-subnet "$n" \
        --package-cache-port "$(cat "$dir/package-cache.port")" \
        --user-delay "${CLOUD_PEER_USER_DELAY:-5}"
    echo $! >> "$dir/pids"
    # The first start builds the stock image before the peer listens.
    wait_for_file "$dir/peer.port" 900 $! "$dir/peer.log"

    [ -e "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -C "cloudc-peer" -f "$dir/id_ed25519"
    local port
    port=$(cat "$dir/peer.port")
    cat > "$dir/config.yaml" <<EOF
# Written by scripts/cloud-peer.sh: cloudc against the local Compute Engine in $dir.
# Use it with: CLOUDC_HOME=$dir cloudc start gce
clouds:
  gce:
    provider: gce
    project: cloudc-peer
    zones: [us-central1-a]
    credentials: $dir/credentials/service-account.json
    endpoint: http://127.0.0.1:$port/compute/v1/
    token_endpoint: http://127.0.0.1:$port/token
logins:
  default:
    user: admin
    private_key: $dir/id_ed25519
setups:
  slurm:
    playbook: slurm
clusters:
  gce:
    cloud: gce
    image: projects/debian-cloud/global/images/family/debian-12
    # The peer's nodes reach SSH from this machine on their bridge.
    ssh_from: 10.91.0.0/16
    setup: slurm
    # The peer's nodes share one folder of this machine as /home (no NFS in this kernel).
    shared_home: true
    groups:
      frontend: {count: 1, flavor: e2-standard-2}
      compute: {count: 2, flavor: e2-standard-2}
      gpu:
        count: 1
        flavor: n1-standard-4
        gpus: {type: nvidia-tesla-t4, count: 1}
EOF
    echo "cloud-peer: gce on http://127.0.0.1:$port, nodes on 10.91.$n.0/24; try: CLOUDC_HOME=$dir cloudc start gce" >&2
}

stop_peer() {
    local dir=$1
    [ -d "$dir" ] || return 0
    dir=$(cd "$dir" && pwd)
    local pid
    if [ -e "$dir/pids" ]; then
        # The GCE peer powers its nodes off and removes them on TERM; the cache just stops.
        for pid in $(tac "$dir/pids"); do kill -TERM "$pid" 2>/dev/null || true; done
        for pid in $(cat "$dir/pids"); do
            for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
        done
    fi
    # Whatever a killed peer left: its nodes' nspawn, their mounts, the bridge.
    for pid in $(pgrep -f "systemd-nspawn .*--directory=$dir/vm/" || true); do kill -KILL "$pid" 2>/dev/null || true; done
    local root
    for root in "$dir"/vm/nodes/*/root; do
        mountpoint -q "$root" 2>/dev/null && umount -l "$root"
    done
    [ -e "$dir/subnet" ] && ip link del "ccvm-g$(cat "$dir/subnet")" 2>/dev/null || true
    rm -rf --one-file-system "$dir"
}

case "${1:-}" in
    start)
        [ "${2:-}" = gce ] || die "usage: cloud-peer.sh start gce DIR (ec2 and openstack: not yet)"
        [ -n "${3:-}" ] || die "usage: cloud-peer.sh start gce DIR"
        start_gce "$3" ;;
    stop)
        [ -n "${2:-}" ] || die "usage: cloud-peer.sh stop DIR"
        stop_peer "$2" ;;
    *) die "usage: cloud-peer.sh start gce DIR | stop DIR" ;;
esac

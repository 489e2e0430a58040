#!/usr/bin/env bash
# A local cloud to try cloudc on, whose instances boot as VM-like nodes on this machine.
#
#   sudo bash scripts/cloud-peer.sh start gce DIR        # then: CLOUDC_HOME=DIR cloudc start gce
#   sudo bash scripts/cloud-peer.sh start ec2 DIR        # then: CLOUDC_HOME=DIR cloudc start ec2
#   sudo bash scripts/cloud-peer.sh start openstack DIR  # then: CLOUDC_HOME=DIR cloudc start openstack
#   sudo bash scripts/cloud-peer.sh start ssh DIR        # then: CLOUDC_HOME=DIR cloudc start ssh
#   sudo bash scripts/cloud-peer.sh stop DIR
#
# Each start runs, in the background, the cloud's API peer, the VM-like nodes behind its instances
# (Tests/peers/vm_nodes.py: systemd-nspawn machines booted from a stock Debian 12 image, on a bridge
# of their own, with a guest agent that makes the image's login user from the instance's key a
# while after sshd answers, as cloud-init and Google's guest agent do), and the package cache
# (Tests/peers/package_cache.py), the nodes' outside world. Only a node with a public or external
# address has "internet": an apt proxy setting for the cache. The others have neither a proxy nor
# a route out, and are reached through one that has.
#
# - gce: the local Compute Engine (Tests/peers/gce_peer.py, which checks every request against
#   Google's own discovery document). Internal addresses on 10.91.N.0/24, external ones (access
#   configs) on 100.91.N.0/24, where this machine is 100.91.N.1.
# - ec2: moto_server (Tests/peers/moto_peer.py; signatures and IAM checked) and
#   Tests/peers/ec2_nodes.py, which boots a node for every running instance in the VPC and subnet
#   10.92.N.0/24 it makes. This machine is 10.92.N.1 there (the VPC router's address), as a machine
#   in the VPC: the cloud says `reach: private`. The one AMI is Debian 12, login `admin`.
# - openstack: a real Keystone (Tests/peers/keystone_peer.py, under uWSGI) and Nova, Neutron and
#   Glance (Tests/peers/openstack_peer.py --nodes): tenant network `private` 10.93.N.0/24, floating
#   IPs from `public` 100.93.N.0/24, where this machine is 100.93.N.1. Image debian-12, login `debian`.
# - ssh: no cloud, four machines a researcher already has (Tests/peers/ssh_hosts.py: the same nodes,
#   hostnames lab-a .. lab-d, at 10.94.N.11 .. .14 on a bridge where this machine is 10.94.N.1). They
#   are set up before cloudc comes: the login `researcher` (passwordless sudo, DIR/id_ed25519.pub in
#   its authorized_keys) exists from boot, /home is one folder DIR/home on all four, each has
#   "internet" (the cache as its apt proxy), and sshd listens on port 22, lab-d's on 2222. Start
#   returns once all four let researcher in and `sudo -n true` works, having written DIR/known_hosts
#   (their host keys), DIR/ssh_config (aliases lab-a .. lab-c; lab-d is left out on purpose),
#   DIR/baseline/HOST.txt (hashes of /etc/hosts and /etc/hostname, and the hostname, for a test to
#   check the machines are left as they were; Tests/peers/peer_view.py ssh DIR compares) and
#   DIR/config.yaml: cloud `ssh` (provider ssh, the 4 hosts, lab-d by address and port) and cluster
#   `ssh` of 1 frontend (lab-a) + 2 compute, setup slurm, /home shared.
#
# gce, ec2 and openstack write DIR/config.yaml (readable by root alone where it holds the peer's
# keys): a cloud and a cluster template named after the provider, of 1 frontend + 2 compute (gce:
# and 1 gpu node with 1 GPU), the image's non-root login with a key made in DIR, setup slurm, and
# /home shared by all nodes. `stop DIR` (any of them) stops all of it and removes every node,
# bridge, mount and folder it made.
#
# Needs root (nspawn, bridges, mounts) and what scripts/install-deps.sh installs (ec2: moto[server]
# and boto3; openstack: what Tests/peers/fetch-openstack.sh prepares, run here when needed). The
# first start builds the stock image with debootstrap (a few minutes, once per machine).
# CLOUD_PEER_USER_DELAY (seconds, default 5): how long after sshd answers the login user appears.
# CLOUD_PEER_PACKAGE_CACHE: a folder to keep fetched packages in between peers (default: DIR's own).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
peers=$repo/Tests/peers
usage="usage: cloud-peer.sh start gce|ec2|openstack|ssh DIR | stop DIR"

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

# Makes the folder $1 and sets dir to its absolute path; refuses one that holds a running peer.
new_dir() {
    [ "$(id -u)" = 0 ] || die "needs root: the nodes are systemd-nspawn machines on a bridge"
    mkdir -p "$1"
    dir=$(cd "$1" && pwd)
    [ -e "$dir/pids" ] && die "$dir holds a running peer already: bash scripts/cloud-peer.sh stop $dir"
    : > "$dir/pids"
}

# Prints (and keeps in DIR/subnet) the first N of 1..250 for which no interface of this machine
# has an address matching one of the patterns, N standing for the number ('10\.92\.N\.').
pick_subnet() {
    local n pattern taken
    for n in $(seq 1 250); do
        taken=
        for pattern in "$@"; do
            ip -4 -o addr show | grep -q " ${pattern//N/$n}" && taken=1
        done
        [ -z "$taken" ] && break
    done
    echo "$n" > "$dir/subnet"
    echo "$n"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# One value of a JSON file: json_value FILE KEY... (a list's items by number).
json_value() {
    python3 -c 'import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2:]:
    value = value[int(key)] if isinstance(value, list) else value[key]
print(value)' "$@"
}

# A free port below 32768: apt-cacher-ng (the cache cloudc puts on a frontend) reads the port of
# its upstream proxy as a signed 16-bit number, and the kernel's own picks are above that.
free_low_port() {
    python3 -c 'import random, socket
for _ in range(200):
    port = random.randrange(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("0.0.0.0", port))
    except OSError:
        continue
    print(port)
    break'
}

start_package_cache() {
    daemon "$dir/package-cache.log" python3 -u "$peers/package_cache.py" \
        --cache "${CLOUD_PEER_PACKAGE_CACHE:-$dir/package-cache}" --port "$(free_low_port)" \
        --port-file "$dir/package-cache.port" --stats "$dir/package-cache.json"
    echo $! >> "$dir/pids"
    wait_for_file "$dir/package-cache.port" 15 $! "$dir/package-cache.log"
}

login_key() {
    [ -e "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -C "cloudc-peer" -f "$dir/id_ed25519"
}

# Writes DIR/config.yaml (0600): what stdin holds (a header and the `clouds:` section), then the
# login, the slurm setup and a cluster template named after the cloud.
# write_config CLOUD USER IMAGE SSH_FROM NOTE GROUPS (NOTE: where SSH comes from; GROUPS: indented lines)
write_config() {
    local cloud=$1 user=$2 image=$3 ssh_from=$4 note=$5 groups=$6
    (umask 077 && {
        cat
        cat <<EOF
logins:
  default:
    user: $user
    private_key: $dir/id_ed25519
setups:
  slurm:
    playbook: slurm
clusters:
  $cloud:
    cloud: $cloud
    image: $image
    # $note
    ssh_from: $ssh_from
    setup: slurm
    # The peer's nodes share one folder of this machine as /home (no NFS in this kernel).
    shared_home: true
    groups:
$groups
EOF
    } > "$dir/config.yaml")
}

start_gce() {
    new_dir "$1"
    bash "$peers/fetch-compute-discovery.sh" >&2
    mkdir -p "$dir/credentials"
    python3 "$peers/gce_credentials.py" make "$dir/credentials" --project cloudc-peer > "$dir/credentials/made.json"

    # Networks of their own: the first N whose 10.91.N.0/24 and 100.91.N.0/24 no interface of this machine has.
    local n
    n=$(pick_subnet '10\.91\.N\.' '100\.91\.N\.')
    echo "ccvm-g$n" > "$dir/bridge"
    start_package_cache

    daemon "$dir/peer.log" python3 -u "$peers/gce_peer.py" --discovery "$repo/.peers/compute.v1.json" \
        --accounts "$dir/credentials/accounts.json" --project cloudc-peer --port-file "$dir/peer.port" \
        --step-seconds 0.5 --nodes "$dir/vm" --node-tag "g$n" --node-subnet "$n" \
        --package-cache-port "$(cat "$dir/package-cache.port")" \
        --user-delay "${CLOUD_PEER_USER_DELAY:-5}"
    echo $! >> "$dir/pids"
    # The first start builds the stock image before the peer listens.
    wait_for_file "$dir/peer.port" 900 $! "$dir/peer.log"

    login_key
    local port
    port=$(cat "$dir/peer.port")
    write_config gce admin projects/debian-cloud/global/images/family/debian-12 100.91.0.0/16 \
        "This machine reaches the nodes' external addresses from 100.91.$n.1; the others only through the frontend." \
        "      frontend: {count: 1, flavor: e2-standard-2}
      compute: {count: 2, flavor: e2-standard-2}
      gpu:
        count: 1
        flavor: n1-standard-4
        gpus: {type: nvidia-tesla-t4, count: 1}" <<EOF
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
EOF
    echo "cloud-peer: gce on http://127.0.0.1:$port, nodes on 10.91.$n.0/24, external addresses on 100.91.$n.0/24 (this machine: 100.91.$n.1); try: CLOUDC_HOME=$dir cloudc start gce" >&2
}

start_ec2() {
    new_dir "$1"
    python3 -c 'import boto3, moto.server' 2>/dev/null || die "moto is not installed: pip install 'moto[server]==5.2.1' boto3"
    local n
    n=$(pick_subnet '10\.92\.N\.')
    echo "ccvm-e$n" > "$dir/bridge"
    mkdir -p "$dir/ec2"
    start_package_cache

    # moto_server as the tests start it (Tests/TestSupport/MotoServer.swift), its one AMI Debian 12.
    python3 "$peers/ec2_nodes.py" amis > "$dir/ec2/amis.json"
    local port endpoint pid i
    port=$(free_port)
    endpoint=http://127.0.0.1:$port
    # The consoles show the host keys of the nodes, which ec2_nodes.py writes to ec2/host-keys.
    daemon "$dir/moto.log" env MOTO_AMIS_PATH="$dir/ec2/amis.json" MOTO_PEER_HOST_KEYS="$dir/ec2/host-keys" \
        MOTO_PEER_KEYS_FROM_NODES=1 \
        MOTO_ENABLE_AMI_VALIDATION=true MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION=true \
        MOTO_ENABLE_KEYPAIR_VALIDATION=true PYTHONUNBUFFERED=1 \
        python3 "$peers/moto_peer.py" -H 127.0.0.1 -p "$port"
    pid=$!
    echo $pid >> "$dir/pids"
    for ((i = 0; i < 900; i++)); do
        curl -sf "$endpoint/moto-api/data.json" > /dev/null && break
        kill -0 "$pid" 2>/dev/null || { tail -20 "$dir/moto.log" >&2; die "moto_server exited"; }
        sleep 0.1
    done
    [ "$i" -lt 900 ] || { tail -20 "$dir/moto.log" >&2; die "moto_server did not answer within 90 s"; }
    # The nodes' own IAM key first: moto_setup.py then makes cloudc's and turns signature and IAM checks on.
    (umask 077 && python3 "$peers/ec2_nodes.py" user --endpoint "$endpoint" > "$dir/ec2/nodes-key.json")
    (umask 077 && python3 "$peers/moto_setup.py" "$endpoint" > "$dir/ec2/key.json")

    daemon "$dir/nodes.log" python3 -u "$peers/ec2_nodes.py" run --endpoint "$endpoint" \
        --credentials "$dir/ec2/nodes-key.json" --nodes "$dir/vm" --node-tag "e$n" --node-subnet "$n" \
        --network-file "$dir/ec2/network.json" --host-keys "$dir/ec2/host-keys" \
        --package-cache-port "$(cat "$dir/package-cache.port")" \
        --user-delay "${CLOUD_PEER_USER_DELAY:-5}"
    echo $! >> "$dir/pids"
    # The first start builds the stock image before the VPC is made.
    wait_for_file "$dir/ec2/network.json" 900 $! "$dir/nodes.log"

    login_key
    write_config ec2 admin "$(json_value "$dir/ec2/amis.json" 0 ami_id)" 10.92.0.0/16 \
        "This machine's connections come from 10.92.$n.1." \
        "      frontend: {count: 1, flavor: t3.medium}
      compute: {count: 2, flavor: t3.medium}" <<EOF
# Written by scripts/cloud-peer.sh: cloudc against the local EC2 (moto) in $dir.
# Use it with: CLOUDC_HOME=$dir cloudc start ec2
clouds:
  ec2:
    provider: ec2
    region: us-east-1
    endpoint: $endpoint
    access_key_id: $(json_value "$dir/ec2/key.json" access_key_id)
    secret_access_key: $(json_value "$dir/ec2/key.json" secret_access_key)
    vpc: $(json_value "$dir/ec2/network.json" vpc)
    subnet: $(json_value "$dir/ec2/network.json" subnet)
    # This machine is in the VPC (10.92.$n.1): it reaches the frontend at its private address.
    reach: private
EOF
    echo "cloud-peer: ec2 on $endpoint, subnet 10.92.$n.0/24 (this machine: 10.92.$n.1); try: CLOUDC_HOME=$dir cloudc start ec2" >&2
}

start_openstack() {
    new_dir "$1"
    bash "$peers/fetch-openstack.sh" >&2
    local n
    n=$(pick_subnet '10\.93\.N\.' '100\.93\.N\.')
    echo "ccvm-o$n" > "$dir/bridge"
    start_package_cache

    # A copy of the bootstrapped Keystone with fresh fernet keys, as Tests/TestSupport/OpenStackPeer.swift makes one.
    local template=$repo/.peers/keystone-template keystone=$dir/keystone entry
    mkdir -p "$keystone"
    for entry in "$template"/*; do
        case "$entry" in *.log) ;; *) cp -r "$entry" "$keystone/" ;; esac
    done
    for entry in "$keystone"/fernet-keys/* "$keystone"/fernet-receipts/*; do
        python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode(), end="")' > "$entry"
    done
    sed "s|@DIR@|$keystone|g" "$keystone/keystone.conf.in" > "$keystone/keystone.conf"
    local keystone_port auth_url keystone_pid port
    keystone_port=$(free_port)
    auth_url=http://127.0.0.1:$keystone_port/v3
    daemon "$dir/keystone.log" env PYTHONDONTWRITEBYTECODE=1 python3 "$peers/keystone_peer.py" serve \
        --venv "$repo/.peers/keystone-venv" --conf "$keystone/keystone.conf" --port "$keystone_port"
    keystone_pid=$!
    echo $keystone_pid >> "$dir/pids"

    daemon "$dir/peer.log" python3 -u "$peers/openstack_peer.py" --keystone "$auth_url" \
        --admin-password "$(json_value "$keystone/peer.json" admin password)" \
        --project-id "$(json_value "$keystone/peer.json" project id)" \
        --samples "$repo/.peers/nova-api-samples" --port-file "$dir/peer.port" --build-seconds 2 \
        --nodes "$dir/vm" --node-tag "o$n" --node-subnet "$n" \
        --package-cache-port "$(cat "$dir/package-cache.port")" --user-delay "${CLOUD_PEER_USER_DELAY:-5}"
    echo $! >> "$dir/pids"
    # The first start builds the stock image before the peer listens.
    wait_for_file "$dir/peer.port" 900 $! "$dir/peer.log"
    port=$(cat "$dir/peer.port")
    # Keystone's catalog for its port and the peer's, and an application credential for researcher.
    (umask 077 && timeout -s KILL 90 python3 "$peers/keystone_peer.py" catalog --keystone "$auth_url" \
        --template-json "$keystone/peer.json" --peer-url "http://127.0.0.1:$port" --wait-pid "$keystone_pid" \
        --timeout 60 > "$dir/credential.json" 2> "$dir/catalog.log") \
        || { tail -20 "$dir/catalog.log" "$dir/keystone.log" >&2; die "Keystone did not start or take its catalog"; }

    login_key
    write_config openstack debian debian-12 100.93.0.0/16 \
        "This machine reaches the floating IPs from 100.93.$n.1; the tenant network only through the frontend." \
        "      frontend: {count: 1, flavor: m1.small}
      compute: {count: 2, flavor: m1.large}" <<EOF
# Written by scripts/cloud-peer.sh: cloudc against the local OpenStack (Keystone; Nova, Neutron
# and Glance) in $dir. Use it with: CLOUDC_HOME=$dir cloudc start openstack
clouds:
  openstack:
    provider: openstack
    auth_url: $auth_url
    region: RegionOne
    # researcher on the project research (made at this start).
    application_credential_id: "$(json_value "$dir/credential.json" application_credential_id)"
    application_credential_secret: "$(json_value "$dir/credential.json" application_credential_secret)"
    # The tenant network is 10.93.$n.0/24; floating IPs come from 100.93.$n.0/24.
    network: private
    floating_ip_network: public
EOF
    echo "cloud-peer: openstack: Keystone $auth_url, Nova/Neutron/Glance on http://127.0.0.1:$port, tenant network 10.93.$n.0/24, floating IPs 100.93.$n.0/24 (this machine: 100.93.$n.1); try: CLOUDC_HOME=$dir cloudc start openstack" >&2
}

start_ssh() {
    new_dir "$1"
    local n
    n=$(pick_subnet '10\.94\.N\.')
    echo "ccvm-s$n" > "$dir/bridge"
    start_package_cache
    login_key

    # The lab's machines, booted and let into before this returns (they exist before cloudc comes).
    daemon "$dir/nodes.log" python3 -u "$peers/ssh_hosts.py" --nodes "$dir/vm" --node-tag "s$n" --node-subnet "$n" \
        --home "$dir/home" --host lab-a --host lab-b --host lab-c --host lab-d:2222 --user researcher \
        --key "$dir/id_ed25519" --package-cache-port "$(cat "$dir/package-cache.port")" \
        --known-hosts "$dir/known_hosts" --baseline "$dir/baseline" --ready-file "$dir/hosts.json"
    echo $! >> "$dir/pids"
    # The first start builds the stock image before the nodes boot.
    wait_for_file "$dir/hosts.json" 900 $! "$dir/nodes.log"

    local host i=11
    {
        echo "# Written by scripts/cloud-peer.sh: the lab's machines in $dir (lab-d is left out on purpose:"
        echo "# config.yaml gives its address and port itself)."
        for host in lab-a lab-b lab-c; do
            cat <<EOF

Host $host
    HostName 10.94.$n.$i
    User researcher
    IdentityFile $dir/id_ed25519
    UserKnownHostsFile $dir/known_hosts
EOF
            i=$((i + 1))
        done
    } > "$dir/ssh_config"
    # Not write_config: machines that exist already have no image, flavor or login to make.
    (umask 077 && cat > "$dir/config.yaml" <<EOF
# Written by scripts/cloud-peer.sh: cloudc on four machines a researcher has (lab-a .. lab-d) in $dir.
# Use it with: CLOUDC_HOME=$dir cloudc start ssh
clouds:
  ssh:
    provider: ssh
    ssh_config: $dir/ssh_config
    user: researcher
    key: $dir/id_ed25519
    hosts:
      - lab-a
      - lab-b
      - lab-c
      - {host: lab-d, address: 10.94.$n.14, port: 2222}
clusters:
  ssh:
    cloud: ssh
    setup: slurm
    # The machines share one folder of this machine as /home (no NFS in this kernel).
    shared_home: true
    groups:
      frontend: {count: 1, hosts: [lab-a]}
      compute: {count: 2}
setups:
  slurm: {playbook: slurm}
EOF
    )
    echo "cloud-peer: ssh: lab-a .. lab-d at 10.94.$n.11 .. 10.94.$n.14 (lab-d: port 2222; this machine: 10.94.$n.1); try: ssh -F $dir/ssh_config lab-a, or CLOUDC_HOME=$dir cloudc start ssh" >&2
}

stop_peer() {
    local dir=$1
    [ -d "$dir" ] || return 0
    dir=$(cd "$dir" && pwd)
    local pid child
    if [ -e "$dir/pids" ]; then
        # The nodes' owners (gce_peer.py, ec2_nodes.py, openstack_peer.py, ssh_hosts.py) power their nodes off and
        # remove them on TERM; the others just stop.
        for pid in $(tac "$dir/pids"); do kill -TERM "$pid" 2>/dev/null || true; done
        for pid in $(cat "$dir/pids"); do
            for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
        done
    fi
    # Whatever a killed peer left: its nodes (each init first: a killed nspawn leaves its node
    # running), their nspawn and mounts, the bridge.
    for pid in $(pgrep -f "systemd-nspawn .*--directory=$dir/vm/" || true); do
        for child in $(pgrep -P "$pid" || true); do kill -KILL "$child" 2>/dev/null || true; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    local root
    for root in "$dir"/vm/nodes/*/root; do
        mountpoint -q "$root" 2>/dev/null && umount -l "$root"
    done
    local bridge=
    [ -e "$dir/subnet" ] && bridge=ccvm-g$(cat "$dir/subnet")  # a gce peer of an older script
    [ -e "$dir/bridge" ] && bridge=$(cat "$dir/bridge")
    [ -n "$bridge" ] && ip link del "$bridge" 2>/dev/null || true
    # The nodes' own cgroups (vm_nodes.py makes cloudc-peer/vm-<tag>-<node>-<hex>), once empty,
    # deepest first: what a node killed above left.
    if [ -n "$bridge" ]; then
        local top
        for top in /sys/fs/cgroup/cloudc-peer/vm-"${bridge#ccvm-}"-* /sys/fs/cgroup/*/cloudc-peer/vm-"${bridge#ccvm-}"-*; do
            [ -d "$top" ] && find "$top" -depth -type d -exec rmdir {} + 2>/dev/null || true
        done
        rmdir /sys/fs/cgroup/cloudc-peer /sys/fs/cgroup/*/cloudc-peer 2>/dev/null || true   # once no peer's node is left
    fi
    rm -rf --one-file-system "$dir"
}

case "${1:-}" in
    start)
        [ -n "${3:-}" ] || die "$usage"
        case "${2:-}" in
            gce) start_gce "$3" ;;
            ec2) start_ec2 "$3" ;;
            openstack) start_openstack "$3" ;;
            ssh) start_ssh "$3" ;;
            *) die "$usage" ;;
        esac ;;
    stop)
        [ -n "${2:-}" ] || die "$usage"
        stop_peer "$2" ;;
    *) die "$usage" ;;
esac

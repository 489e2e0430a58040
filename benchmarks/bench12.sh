#!/bin/bash
# bench12.sh N [fresh]  -- one `cloudc setup` of the 12-step yardstick (/work/shared/bench, the
# same steps as its playbook.yml; here benchmarks/bench12/bench12.yaml) on test hosts h1..hN,
# timed from outside like the bench's run_ansible.sh.
#   fresh : first wipe /tmp/cbench-host/h1..hN (the first run); without it, the idempotent rerun.
# Needs: /work/shared/bench/testhosts.sh up N (as root), and gen_inventory.sh N (the munge key).
#
# The cluster is an `ssh` cloud's (provider: ssh) in its own CLOUDC_HOME per N
# (/run/cbench/cloudc-N), so leases of different N never collide. The first run for an N
# registers it, untimed: `cloudc start bench12 --no-setup` (leases and checks h1..hN; host keys
# are pinned from /run/cbench/known_hosts through the ssh_config written there). To reset an N,
# delete its CLOUDC_HOME (also when the hosts' keys changed: testhosts made anew). Never
# `cloudc stop` it: its undo would act on this machine's folders, which the test hosts share.
#
# Env: CLOUDC (default <repo>/.build/release/cloudc), CLOUDC_SHARE (default <repo>),
#      BENCH_LOG (append output and `bench-run start|end` lines there; default /dev/null),
#      BENCH_DIR (the bench; default /work/shared/bench), CLOUDC_FANOUT (cloudc's, default 64).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/work/shared/bench}
. "$BENCH_DIR/common.sh"
args="$*"
n=${1:?usage: bench12.sh N [fresh]}; shift
fresh=0
for a in "$@"; do case $a in fresh) fresh=1;; *) echo "unknown arg $a" >&2; exit 2;; esac; done
CLOUDC=${CLOUDC:-$ROOT/.build/release/cloudc}
[ -x "$CLOUDC" ] || { echo "no cloudc binary at $CLOUDC (set CLOUDC=...)" >&2; exit 2; }
export CLOUDC_HOME=/run/cbench/cloudc-$n CLOUDC_SHARE=${CLOUDC_SHARE:-$ROOT}
playbook=$ROOT/benchmarks/bench12/bench12.yaml
log=${BENCH_LOG:-/dev/null}
ensure_munge_key

# config.yaml: h1..hN in order (node allNNN leases the NNN-th listed host), and the vars the
# templates cannot compute.
write_config() {
  local i nodes
  nodes=$(seq 1 "$n" | sed 's/^/h/' | paste -sd, -)
  mkdir -p "$CLOUDC_HOME"
  printf 'Host *\n  UserKnownHostsFile /run/cbench/known_hosts\n' > "$CLOUDC_HOME/ssh_config"
  {
    echo "clouds:"
    echo "  bench:"
    echo "    provider: ssh"
    echo "    user: root"
    echo "    key: $KEY"
    echo "    ssh_config: $CLOUDC_HOME/ssh_config"
    echo "    hosts:"
    for i in $(seq 1 "$n"); do echo "      - {host: h$i, address: $(host_ip "$i")}"; done
    echo "clusters:"
    echo "  bench12:"
    echo "    cloud: bench"
    echo "    setup: bench12"
    echo "    shared_home: true"
    echo "    groups:"
    echo "      all: {count: $n}"
    echo "setups:"
    echo "  bench12:"
    echo "    playbook: $playbook"
    echo "    vars:"
    echo "      controller: \"h1($(host_ip 1))\""
    echo "      partition_nodes: \"$nodes\""
  } > "$CLOUDC_HOME/config.yaml.new"
  # Rewrite only when it differs, so a timed run reads what the registration wrote.
  if cmp -s "$CLOUDC_HOME/config.yaml.new" "$CLOUDC_HOME/config.yaml"; then rm -f "$CLOUDC_HOME/config.yaml.new"
  else mv -f "$CLOUDC_HOME/config.yaml.new" "$CLOUDC_HOME/config.yaml"; fi
}

register() {  # once per N, untimed
  [ -f "$CLOUDC_HOME/clusters/bench12.json" ] && return 0
  "$CLOUDC" start bench12 --no-setup >"$CLOUDC_HOME/register.log" 2>&1
  local rc=$?
  if [ $rc != 0 ]; then
    echo "bench12.sh: cloudc start bench12 --no-setup failed (rc=$rc), see $CLOUDC_HOME/register.log:" >&2
    tail -n 20 "$CLOUDC_HOME/register.log" >&2
    exit $rc
  fi
}

write_config
register
if [ $fresh = 1 ]; then for i in $(seq 1 "$n"); do rm -rf "$HOSTROOT/h$i"; done; fi
[ "$log" != /dev/null ] && echo "bench-run start $EPOCHREALTIME bench12.sh $args" >>"$log"
"$CLOUDC" setup bench12 >>"$log" 2>&1
rc=$?
[ "$log" != /dev/null ] && echo "bench-run end $EPOCHREALTIME rc=$rc" >>"$log"
exit $rc

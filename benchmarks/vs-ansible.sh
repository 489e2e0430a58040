#!/bin/bash
# vs-ansible.sh N [pairs]  -- cloudc's configurator against Ansible on the bench's 12-step
# yardstick (/work/shared/bench), on test hosts h1..hN, in one run, interleaved.
#
# Each pair runs both tools, the order alternating from pair to pair (cloudc first in odd pairs):
#   a "first" run on wiped hosts (`fresh`), then an "idempotent" run on the tree that same tool
#   just configured. cloudc: benchmarks/bench12.sh; Ansible: the bench's run_ansible.sh.
# After every run the bench's verify.sh N checks the end state; a failed run or verify is
# reported (its log kept) and the script exits non-zero. Also checked: step 12 ran once per host
# in a first run and not at all in an idempotent one, and cloudc's idempotent run says "0 changed".
# Prints per tool and kind: wall seconds (median, min–max, from the wrappers' `bench-run
# start|end` lines: the wipe and cloudc's one-time registration are outside), the per-pair ratio
# Ansible/cloudc, host-side CPU (the test sshds' cgroup, if present) and client-side CPU (user+sys
# of the wrapper's process tree), and /proc/loadavg before and after.
# One untimed warm-up run of each tool comes first (WARMUP=0 skips it; it also registers cloudc's
# cluster for this N).
#
# How to run (as root, Debian 12; the bench's README has the details):
#   /work/shared/bench/testhosts.sh up N              # hosts h1..hN (leave them up between runs)
#   python3 -m venv /tmp/cbench-cache/ansible-venv && \
#     /tmp/cbench-cache/ansible-venv/bin/pip install ansible-core==2.19.14   # once
#   swift build -c release                            # or set CLOUDC=/path/to/cloudc
#   benchmarks/vs-ansible.sh 30 5
# On a shared machine, run it in a quiet window and quote ratios (same run) rather than seconds.
#
# Env: CLOUDC (cloudc binary, default <repo>/.build/release/cloudc), BENCH_DIR (default
#      /work/shared/bench), ANSIBLE_VENV, ANSIBLE_FACTS=1 (Ansible gathers facts, ElastiCluster's
#      default; off by default as in the bench's main figures), WARMUP (default 1),
#      KEEP (work folder with every run's log and results.tsv; default a new /tmp/vs-ansible.XXXXXX).
#      CLOUDC_FANOUT: cloudc configures at most 64 nodes at once by default, Ansible here N (forks = N);
#      for N > 64 set CLOUDC_FANOUT=N to compare at the same parallelism (and say which you used).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/work/shared/bench}
. "$BENCH_DIR/common.sh"
n=${1:?usage: vs-ansible.sh N [pairs]}
pairs=${2:-5}
export CLOUDC=${CLOUDC:-$ROOT/.build/release/cloudc}
export BENCH_DIR
venv=${ANSIBLE_VENV:-/tmp/cbench-cache/ansible-venv}
facts=(); [ "${ANSIBLE_FACTS:-0}" = 1 ] && facts=(facts)
CG=/sys/fs/cgroup/cpuacct/cbench-remote/cpuacct.usage
work=${KEEP:-$(mktemp -d /tmp/vs-ansible.XXXXXX)}
mkdir -p "$work"
res=$work/results.tsv
printf 'pair\ttool\tkind\twall_s\tclient_cpu_s\thost_cpu_s\n' > "$res"

die() { echo "vs-ansible: $*" >&2; echo "logs: $work" >&2; exit 1; }
[ -x "$CLOUDC" ] || die "no cloudc binary at $CLOUDC (build it, or set CLOUDC=...)"
[ -x "$venv/bin/ansible-playbook" ] || die "no Ansible at $venv (see the header of $0)"
for i in 1 "$n"; do
  (exec 3<>"/dev/tcp/$(host_ip "$i")/22") 2>/dev/null || die "test host h$i is not up: run $BENCH_DIR/testhosts.sh up $n"
done
"$BENCH_DIR/gen_inventory.sh" "$n" >/dev/null || die "gen_inventory.sh $n failed"

host_cpu() { [ -r $CG ] && cat $CG || echo 0; }
restarts() { local i t=0 c; for i in $(seq 1 "$n"); do c=$(cat "$HOSTROOT/h$i/var/log/slurm/restarts.log" 2>/dev/null | wc -l); t=$((t + c)); done; echo $t; }

# run PAIR TOOL KIND: one timed run, checked; appends a line to results.tsv
run() {
  local pair=$1 tool=$2 kind=$3 log=$work/$1-$2-$3.log fresh=() cmd r0 r1 h0 h1 t rc s e
  [ "$kind" = first ] && fresh=(fresh)
  case $tool in
    cloudc)  cmd=("$ROOT/benchmarks/bench12.sh" "$n" "${fresh[@]}") ;;
    ansible) cmd=("$BENCH_DIR/run_ansible.sh" "$n" "${fresh[@]}" "${facts[@]}") ;;
  esac
  : > "$log"
  r0=$(restarts); h0=$(host_cpu)
  local TIMEFORMAT='%U %S'
  t=$( { time BENCH_LOG=$log "${cmd[@]}" 2>>"$log" >>"$log"; echo "rc=$?" >>"$log"; } 2>&1 )
  h1=$(host_cpu)
  rc=$(sed -n 's/^rc=//p' "$log" | tail -1)
  [ "$rc" = 0 ] || { tail -n 30 "$log" >&2; die "pair $pair: $tool $kind run failed (rc=$rc), log $log"; }
  "$BENCH_DIR/verify.sh" "$n" >"$log.verify" 2>&1 || { head -n 20 "$log.verify" >&2; die "pair $pair: verify.sh $n failed after the $tool $kind run"; }
  r1=$(restarts)
  if [ "$kind" = first ]; then [ "$r1" = "$n" ] || die "pair $pair: $tool first run: step 12 ran $r1 times on $n hosts (want $n)"
  else [ "$r1" = "$r0" ] || die "pair $pair: $tool idempotent run: step 12 ran $((r1 - r0)) times (want 0)"; fi
  if [ "$tool" = cloudc ]; then
    local changed; changed=$(sed -n 's/.*done in [0-9.]* s: \([0-9]*\) changed.*/\1/p' "$log" | tail -1)
    [ -n "$changed" ] || die "pair $pair: cloudc $kind: no 'Setup of … done' line in $log"
    if [ "$kind" = idempotent ]; then [ "$changed" = 0 ] || die "pair $pair: cloudc idempotent run changed $changed steps (want 0), log $log"
    elif [ "$changed" = 0 ]; then die "pair $pair: cloudc first run changed nothing, log $log"; fi
  fi
  s=$(sed -n 's/^bench-run start \([0-9.]*\).*/\1/p' "$log" | tail -1)
  e=$(sed -n 's/^bench-run end \([0-9.]*\).*/\1/p' "$log" | tail -1)
  [ -n "$s" ] && [ -n "$e" ] || die "pair $pair: $tool $kind: no bench-run start/end lines in $log"
  awk -v p="$pair" -v tool="$tool" -v k="$kind" -v s="$s" -v e="$e" -v t="$t" -v h0="$h0" -v h1="$h1" \
    'BEGIN { split(t, c, " "); printf "%s\t%s\t%s\t%.3f\t%.3f\t%.3f\n", p, tool, k, e - s, c[1] + c[2], (h1 - h0) / 1e9 }' >> "$res"
  [ "$pair" = warmup ] || printf '  pair %s  %-7s %-10s %7.2f s\n' "$pair" "$tool" "$kind" "$(tail -1 "$res" | cut -f4)"
}

echo "vs-ansible: N=$n, $pairs pairs; cloudc $CLOUDC; $("$venv/bin/ansible-playbook" --version | head -1)${facts:+, facts on}"
echo "loadavg before: $(cat /proc/loadavg)"
cpu0=$(host_cpu)
if [ "${WARMUP:-1}" = 1 ]; then
  echo "warm-up (untimed): cloudc, ansible"
  run warmup cloudc first; run warmup ansible first
fi
for p in $(seq 1 "$pairs"); do
  if [ $((p % 2)) = 1 ]; then order=(cloudc ansible); else order=(ansible cloudc); fi
  for tool in "${order[@]}"; do run "$p" "$tool" first; run "$p" "$tool" idempotent; done
done
echo "loadavg after:  $(cat /proc/loadavg)"

python3 - "$res" "$([ -r $CG ] && echo 1 || echo 0)" <<'PY'
import csv, statistics, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]), delimiter="\t") if r["pair"] != "warmup"]
have_cg = sys.argv[2] == "1"
def vals(tool, kind, col): return [float(r[col]) for r in rows if r["tool"] == tool and r["kind"] == kind]
def fmt(xs, unit=" s", prec=2):
    return f"{statistics.median(xs):.{prec}f}{unit} ({min(xs):.{prec}f}–{max(xs):.{prec}f})"
print()
for kind in ("first", "idempotent"):
    print(f"{kind} run:")
    for tool in ("cloudc", "ansible"):
        line = f"  {tool:8} wall {fmt(vals(tool, kind, 'wall_s'))}   client CPU {fmt(vals(tool, kind, 'client_cpu_s'))}"
        if have_cg: line += f"   host-side CPU {fmt(vals(tool, kind, 'host_cpu_s'))}"
        print(line)
    w = {(r["pair"], r["tool"]): float(r["wall_s"]) for r in rows if r["kind"] == kind}
    ratios = [w[(p, "ansible")] / w[(p, "cloudc")] for p in sorted({p for p, _ in w}, key=int)]
    print(f"  Ansible/cloudc per pair: {fmt(ratios, '×', 1)}  [{', '.join(f'{x:.1f}' for x in ratios)}]")
PY
[ -r $CG ] && awk -v a="$cpu0" -v b="$(host_cpu)" 'BEGIN { printf "host-side CPU, whole run: %.1f s\n", (b - a) / 1e9 }'
echo "results: $res"

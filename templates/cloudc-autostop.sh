#!/bin/sh
# cloudc autostop on {{node.name}} of cluster {{cluster.name}} (written by cloudc setup).
#
# Run every 20 s by cloudc-autostop.timer on every node. The frontend counts the cluster idle
# while no job is pending or running in SLURM and nobody is logged in over SSH; once idle for
# the minutes in /etc/cloudc/autostop (0: never), it drains the workers with the reason
# "cloudc-autostop". Each worker that sees that reason marks itself "cloudc-autostop: off" and
# powers off. The frontend powers off last, once every worker has (or 5 minutes after it asked);
# a worker whose slurmctld stops answering powers off on its own after the idle time (10 min at least).
# No cloud credential is involved: the cloud sees its VMs shut down from inside.
set -u
conf=/etc/cloudc/autostop
run=/var/lib/cloudc/autostop
mkdir -p "$run"
me={{node.name}}
limit=$(cat "$conf" 2>/dev/null)
case "$limit" in ''|*[!0-9]*) limit=0;; esac
say() { logger -t cloudc-autostop "$*" 2>/dev/null; echo "$*"; }
{{^node.is_frontend}}

# A worker: power off when the frontend has asked.
[ "$limit" -gt 0 ] || { rm -f "$run/unreachable"; exit 0; }
if ! reason=$(sinfo -h -n "$me" -o %E 2>/dev/null); then
  # slurmctld does not answer (the frontend is off or gone): once that has lasted the idle
  # time, and at least 10 minutes, with no job running here, this worker powers off too.
  if pgrep -x slurmstepd >/dev/null; then rm -f "$run/unreachable"; exit 0; fi
  [ -f "$run/unreachable" ] || { date +%s > "$run/unreachable"; exit 0; }
  wait=$limit; [ "$wait" -ge 10 ] || wait=10
  [ $(( $(date +%s) - $(cat "$run/unreachable") )) -ge $(( wait * 60 )) ] || exit 0
  say "slurmctld has not answered for $wait minute(s) and no job runs here: powering off"
  systemctl poweroff
  exit 0
fi
rm -f "$run/unreachable"
case "$reason" in
  cloudc-autostop*)
    say "the cluster has been idle for $limit minute(s): powering off"
    scontrol update nodename="$me" state=down reason="cloudc-autostop: off" 2>/dev/null
    systemctl poweroff;;
esac
exit 0
{{/node.is_frontend}}
{{#node.is_frontend}}

now=$(date +%s)
asked="$run/asked"
if [ "$limit" -eq 0 ]; then rm -f "$run/active" "$asked"; exit 0; fi
# A slurmctld that does not answer decides nothing: the workers would be left running.
nodes=$(sinfo -h -N -o %N 2>/dev/null) || exit 0
queue=$(squeue -h -t PD,R,CF,CG,S -o %i 2>/dev/null) || exit 0
workers=$(echo "$nodes" | sort -u)
jobs=$(echo "$queue" | head -n 1)
logins=$(pgrep -f '^sshd: [^ ]+@' 2>/dev/null | head -n 1)
if [ -n "$jobs" ] || [ -n "$logins" ] || [ ! -f "$run/active" ] || [ "$conf" -nt "$run/active" ]; then
  # Busy, or the first run, or the idle time just set: count from now. Workers already
  # asked to power off (but still up) take jobs again.
  echo "$now" > "$run/active"
  if [ -f "$asked" ]; then
    for w in $workers; do
      case "$(sinfo -h -n "$w" -o %E)" in cloudc-autostop) scontrol update nodename="$w" state=resume;; esac
    done
    rm -f "$asked"
    say "busy again: autostop waits"
  fi
  exit 0
fi
idle=$(( now - $(cat "$run/active") ))
[ "$idle" -ge $(( limit * 60 )) ] || exit 0
if [ ! -f "$asked" ] && [ -n "$workers" ]; then
  say "idle for $(( idle / 60 )) minute(s): asking the workers to power off"
  scontrol update nodename="$(echo $workers | tr ' ' ',')" state=drain reason=cloudc-autostop
  echo "$now" > "$asked"
  exit 0
fi
left=""
for w in $workers; do
  case "$(sinfo -h -n "$w" -o %E)" in "cloudc-autostop: off") ;; *) left="$left $w";; esac
done
if [ -n "$left" ] && [ $(( now - $(cat "$asked" 2>/dev/null || echo "$now") )) -lt 300 ]; then exit 0; fi
say "every worker is off${left:+ but$left (asked 5 minutes ago)}: powering off the frontend"
rm -f "$asked" "$run/active"
systemctl poweroff
{{/node.is_frontend}}

#!/usr/bin/env bash
# The main job, on this machine alone (as root): a SLURM cluster of 1 frontend + 2 compute
# nodes made of systemd-nspawn containers (the `local` provider), configured by cloudc over
# SSH; a 4-task job array run on it and its output shown; then the cluster stopped and a
# check that nothing was left. Uses a throw-away, empty CLOUDC_HOME: no config at all.
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "$0")/.." && pwd)"
CLOUDC=${1:-$(cd "$ROOT_DIR" && swift build --show-bin-path)/cloudc}
WORK=$(mktemp -d)
# An empty CLOUDC_HOME: no config file, so `start local` takes the built-in template (and makes
# an SSH key in CLOUDC_HOME if root has no ~/.ssh/id_ed25519).
export CLOUDC_HOME="$WORK/cloudc"
[ -d /usr/local/share/cloudc/playbooks ] || export CLOUDC_SHARE="$ROOT_DIR"
cleanup() { "$CLOUDC" stop local >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
set -x
"$CLOUDC" start local
"$CLOUDC" list-nodes
"$CLOUDC" ssh -- sinfo -N
"$CLOUDC" ssh -- 'mkdir -p /home/demo && cd /home/demo && sbatch --wait --array=1-4 -o "out-%a.txt" --wrap "echo task \$SLURM_ARRAY_TASK_ID of job \$SLURM_ARRAY_JOB_ID ran on \$(hostname)"'
"$CLOUDC" ssh -- 'cat /home/demo/out-*.txt'
set +x
incarnation=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["incarnation"])' "$CLOUDC_HOME/clusters/local.json")
set -x
"$CLOUDC" stop local
set +x
trap - EXIT
cluster=/var/lib/cloudc/local/local-$incarnation   # the local cloud's default root
left=$( (find "$cluster" 2>/dev/null || true) | wc -l)
mounts=$(grep -c "$cluster" /proc/mounts || true)
echo "left behind: $left files, $mounts mounts"
rm -rf "$WORK"
[ -n "$incarnation" ] && [ "$left" = 0 ] && [ "$mounts" = 0 ]

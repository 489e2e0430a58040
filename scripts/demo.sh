#!/usr/bin/env bash
# The main job, on this machine alone (as root): a SLURM cluster of 1 frontend + 2 compute
# nodes made of systemd-nspawn containers (the `local` provider), configured by cloudc over
# SSH; a 4-task job array run on it and its output shown; then the cluster stopped and a
# check that nothing was left. Uses a throw-away CLOUDC_HOME.
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "$0")/.." && pwd)"
CLOUDC=${1:-$(cd "$ROOT_DIR" && swift build --show-bin-path)/cloudc}
WORK=$(mktemp -d)
export CLOUDC_HOME="$WORK/cloudc"
[ -d /usr/local/share/cloudc/playbooks ] || export CLOUDC_SHARE="$ROOT_DIR"
mkdir -p "$CLOUDC_HOME"
ssh-keygen -q -t ed25519 -N "" -f "$WORK/id_ed25519"
cat >"$CLOUDC_HOME/config.yaml" <<YAML
clouds:
  local:
    provider: local
    root: $WORK/nodes
logins:
  default:
    user: root
    private_key: $WORK/id_ed25519
setups:
  slurm:
    playbook: slurm
clusters:
  demo:
    cloud: local
    setup: slurm
    groups:
      frontend: {count: 1}
      compute:  {count: 2}
YAML
cleanup() { "$CLOUDC" stop demo >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
set -x
"$CLOUDC" start demo
"$CLOUDC" list-nodes
"$CLOUDC" ssh -- sinfo -N
"$CLOUDC" ssh -- 'mkdir -p /home/demo && cd /home/demo && sbatch --wait --array=1-4 -o "out-%a.txt" --wrap "echo task \$SLURM_ARRAY_TASK_ID of job \$SLURM_ARRAY_JOB_ID ran on \$(hostname)"'
"$CLOUDC" ssh -- 'cat /home/demo/out-*.txt'
"$CLOUDC" stop demo
set +x
trap - EXIT
left=$(find "$WORK/nodes" -mindepth 1 2>/dev/null | wc -l)
mounts=$(grep -c "$WORK" /proc/mounts || true)
echo "left behind: $left files, $mounts mounts"
rm -rf "$WORK"
[ "$left" = 0 ] && [ "$mounts" = 0 ]

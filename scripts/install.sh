#!/usr/bin/env bash
# Installs cloudc on a fresh Debian/Ubuntu machine (as root, Swift 6 already installed),
# then runs the main job: a SLURM cluster of local systemd-nspawn nodes, a job array on it,
# its output, and the cluster stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
echo "Building cloudc (release)…"
swift build -c release 2>&1 | grep -E "error|warning: |Compiling cloudc|Build complete" || true
install -m 0755 "$(swift build -c release --show-bin-path)/cloudc" /usr/local/bin/cloudc
mkdir -p /usr/local/share/cloudc
rm -rf /usr/local/share/cloudc/playbooks /usr/local/share/cloudc/templates
cp -r playbooks templates /usr/local/share/cloudc/
echo "Installed /usr/local/bin/cloudc and /usr/local/share/cloudc/{playbooks,templates}"
exec bash scripts/demo.sh /usr/local/bin/cloudc

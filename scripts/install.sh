#!/usr/bin/env bash
# Installs cloudc on a fresh Debian/Ubuntu machine (as root, Swift 6 already installed),
# then runs the demo: a cluster started and stopped on a local EC2 emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
echo "Building cloudc (release)…"
swift build -c release 2>&1 | grep -E "error|warning: |Compiling cloudc|Build complete" || true
install -m 0755 "$(swift build -c release --show-bin-path)/cloudc" /usr/local/bin/cloudc
echo "Installed /usr/local/bin/cloudc"
exec bash scripts/demo.sh /usr/local/bin/cloudc

#!/usr/bin/env bash
# Runs the whole test suite: builds, fetches the pinned test vectors, runs every test.
# The peers it needs (moto_server, sshd, ssh-keygen, flock, and python3-venv + gcc + the Python headers
# for Keystone's uWSGI) come from scripts/install-deps.sh.
#
# `scripts/test.sh --unit` runs the fast tier alone: no root, sshd, peer, local cluster or download
# (config, planner, state, lifecycle and operations on a cloud in memory, exports, configurator,
# providers against scripted answers, executors on this machine), for iterating on a change;
# the full run is what CI does.
set -euo pipefail
cd "$(dirname "$0")/.."

quiet_build() { swift build --build-tests 2>&1 | { grep -vE '^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Write|Wrapping|Linking|Merging)' || true; }; }
if [ "${1:-}" = "--unit" ]; then
    quiet_build
    # Every target; the suites marked .needsRoot, .needsPeer, .needsDownload or .long
    # (Tests/TestSupport/Tiers.swift) skip themselves in this tier and say what they need.
    CLOUDC_TEST_TIER=unit exec timeout --signal=KILL 600 swift test --skip-build
fi

bash Tests/peers/fetch-aws4-testsuite.sh
bash Tests/peers/fetch-compute-discovery.sh
bash Tests/peers/fetch-openstack.sh   # Keystone + uWSGI (a venv), its bootstrapped template, Nova's API samples
# Quiet the per-file lines; the build's own exit status decides (pipefail).
quiet_build
# Each test stops the peers it starts (by PID); the timeouts are the last line of defence.
# The 30,000-task grid and the end-to-end runs on VM-like nodes go on their own afterwards: their
# minutes of file, apt and SLURM work would starve the tests running beside them (and skew their figures).
timeout --signal=KILL 2400 swift test --skip-build --skip 'LargeGridTests|CloudEndToEndTests|OwnMachinesEndToEndTests'
timeout --signal=KILL 2700 swift test --skip-build --filter 'CloudEndToEndTests|OwnMachinesEndToEndTests'
exec timeout --signal=KILL 600 swift test --skip-build --filter LargeGridTests

#!/usr/bin/env bash
# Prepares the OpenStack test peers in <repo>/.peers/ (nothing here is committed: .peers/ is git-ignored):
#
#   keystone-venv/        a virtualenv with a real Keystone (keystone==30.0.0) and uWSGI from PyPI,
#                         their dependencies pinned by Tests/peers/keystone-constraints.txt
#   keystone-template/    a bootstrapped Keystone (sqlite, fernet keys, a project `research`, a user
#                         `researcher` with `member` on it, regions, the compute/network/image
#                         services) that each test copies and starts on a port of its own
#                         (Tests/peers/keystone_peer.py, Tests/TestSupport/OpenStackPeer.swift)
#   nova-api-samples/     Nova's published API samples (nova/tests/functional/api_sample_tests/
#                         api_samples in the nova==34.0.0 wheel, SHA-256 checked), from which
#                         Tests/peers/openstack_peer.py takes its request and response shapes
#
# Each part is skipped when its marker (written last) is there, so a second run costs nothing;
# two runs at once take turns (flock). Needs python3 with venv and pip, gcc and the Python
# headers (uWSGI compiles: scripts/install-deps.sh), and PyPI.
set -euo pipefail

keystone_version=30.0.0
uwsgi_version=2.0.31
nova_version=34.0.0
nova_sha256=8b46997836961762608e6e46e6d4945325d8a1fb8004e79e552e55839061f10c
samples_member=nova/tests/functional/api_sample_tests/api_samples/

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
peers="$root/.peers"
venv="$peers/keystone-venv"
template="$peers/keystone-template"
samples="$peers/nova-api-samples"
constraints="$root/Tests/peers/keystone-constraints.txt"
# What the venv was made from: a changed pin or constraints file makes a new one.
venv_stamp="keystone==$keystone_version uwsgi==$uwsgi_version $(sha256sum "$constraints" | cut -c1-16)"

mkdir -p "$peers"
exec 9>"$peers/.fetch-openstack.lock"
flock 9

# --- Keystone and uWSGI in a virtualenv ------------------------------------------------------
if [ "$(cat "$venv/.cloudc-ready" 2>/dev/null)" != "$venv_stamp" ]; then
    echo "installing keystone==$keystone_version and uwsgi==$uwsgi_version into $venv (pip; uWSGI compiles, a few minutes)" >&2
    rm -rf "$venv" "$template"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --constraint "$constraints" \
        "keystone==$keystone_version" "uwsgi==$uwsgi_version" >&2
    "$venv/bin/python" -c 'import keystone.wsgi.api' 2>/dev/null || true   # warm the bytecode caches
    test -x "$venv/bin/uwsgi" && test -x "$venv/bin/keystone-manage"
    echo "$venv_stamp" > "$venv/.cloudc-ready"
fi

# --- Nova's API samples ------------------------------------------------------------------------
if [ "$(cat "$samples/.cloudc-ready" 2>/dev/null)" != "nova==$nova_version" ]; then
    work="$(mktemp -d "$peers/.fetch-nova.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    echo "fetching nova==$nova_version from PyPI for Nova's API samples" >&2
    python3 -m pip download --quiet --disable-pip-version-check --no-deps \
        --only-binary :all: --dest "$work" "nova==$nova_version" >&2
    wheel="$work/nova-$nova_version-py3-none-any.whl"
    actual="$(sha256sum "$wheel" | cut -d' ' -f1)"
    if [ "$actual" != "$nova_sha256" ]; then
        echo "$(basename "$wheel") has SHA-256 $actual, expected $nova_sha256" >&2
        exit 1
    fi
    # Only the samples, laid out as in the wheel's api_samples folder, plus the API's maximum
    # microversion (from the same wheel), which the peer announces and enforces.
    python3 - "$wheel" "$samples_member" "$work/samples" <<'PY'
import os, re, sys, zipfile
wheel, prefix, out = sys.argv[1:]
archive = zipfile.ZipFile(wheel)
count = 0
for name in archive.namelist():
    if name.startswith(prefix) and not name.endswith("/"):
        target = os.path.join(out, name[len(prefix):])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(archive.read(name))
        count += 1
assert count > 500 and os.path.exists(os.path.join(out, "servers", "server-create-req.json.tpl")), count
source = archive.read("nova/api/openstack/api_version_request.py").decode()
maximum = re.search(r"^_MAX_API_VERSION = '(2\.\d+)'", source, re.M).group(1)
with open(os.path.join(out, "max_api_version"), "w") as f:
    f.write(maximum + "\n")
print(f"{count} sample files, maximum microversion {maximum}", file=sys.stderr)
PY
    echo "nova==$nova_version" > "$work/samples/.cloudc-ready"
    rm -rf "$samples"
    mv "$work/samples" "$samples"
fi

# --- A bootstrapped Keystone to copy -----------------------------------------------------------
# Made by keystone_peer.py: a changed keystone_peer.py (its conf, its users) makes a new one.
template_stamp="$venv_stamp $(sha256sum "$root/Tests/peers/keystone_peer.py" | cut -c1-16)"
if [ ! -s "$template/peer.json" ] || [ "$(cat "$template/.cloudc-ready" 2>/dev/null)" != "$template_stamp" ]; then
    echo "bootstrapping a Keystone template in $template (keystone-manage, then its REST API)" >&2
    work="$(mktemp -d "$peers/.keystone-template.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    python3 "$root/Tests/peers/keystone_peer.py" template --venv "$venv" --dir "$work" >&2
    echo "$template_stamp" > "$work/.cloudc-ready"
    rm -rf "$template"
    mv "$work" "$template"
fi
echo "OpenStack peers ready: $venv, $template, $samples" >&2

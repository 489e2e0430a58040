#!/usr/bin/env bash
# Fetches Google's Compute Engine v1 discovery document into <repo>/.peers/compute.v1.json.
#
# The document ships inside the google-api-python-client wheel on PyPI
# (googleapiclient/discovery_cache/documents/compute.v1.json); the local GCE peer
# (Tests/peers/gce_peer.py) validates every request body against its schemas. We pin
# the version and the wheel's SHA-256, so every run checks against the same schemas.
# Nothing here is committed (.peers/ is git-ignored). Does nothing when the document is
# already there; safe to run twice at once (the last step is one rename).
#
# Needs python3 with pip, and PyPI (or a pip mirror set in pip's own config).
set -euo pipefail

version=2.202.0
sha256=aaa90064c9bb642ff1d065b22ca8958a2cb6e345909cefe70d0e5452fc50e08b
member=googleapiclient/discovery_cache/documents/compute.v1.json

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dest="$root/.peers/compute.v1.json"

if [ -s "$dest" ]; then
    exit 0
fi

mkdir -p "$root/.peers"
work="$(mktemp -d "$root/.peers/.fetch-compute.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "fetching google-api-python-client==$version from PyPI for the Compute v1 discovery document" >&2
python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary :all: --dest "$work" "google-api-python-client==$version" >&2

wheel="$work/google_api_python_client-$version-py3-none-any.whl"
actual="$(sha256sum "$wheel" | cut -d' ' -f1)"
if [ "$actual" != "$sha256" ]; then
    echo "$(basename "$wheel") has SHA-256 $actual, expected $sha256" >&2
    exit 1
fi

# A wheel is a zip file; python's zipfile avoids needing unzip.
python3 - "$wheel" "$member" "$work/compute.v1.json" <<'PY'
import json, sys, zipfile
wheel, member, out = sys.argv[1:]
data = zipfile.ZipFile(wheel).read(member)
document = json.loads(data)  # refuse to install something that is not the document
assert document.get("id") == "compute:v1", document.get("id")
open(out, "wb").write(data)
PY
# Another run may have got there first; either copy is the same document.
mv -f "$work/compute.v1.json" "$dest"
echo "Compute v1 discovery document (revision $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["revision"])' "$dest")) ready in $dest" >&2

#!/usr/bin/env bash
# Fetches AWS's Signature Version 4 test suite into <repo>/.peers/aws4_testsuite.
#
# The suite ships inside botocore's source distribution on PyPI
# (tests/unit/auth/aws4_testsuite); we pin the version and the archive's SHA-256,
# so every run tests against the same files. Nothing here is committed (.peers/ is
# git-ignored). Does nothing when the suite is already there; safe to run twice at
# once (the last step is one rename).
#
# Needs python3 with pip, and PyPI (or a pip mirror set in pip's own config).
set -euo pipefail

version=1.43.11
sha256=d7d479cc2809ec2728f2898521003adfb79bfe6a4615c59dfd222ec52b0cee6b

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dest="$root/.peers/aws4_testsuite"

if [ -f "$dest/get-vanilla/get-vanilla.req" ]; then
    exit 0
fi

mkdir -p "$root/.peers"
work="$(mktemp -d "$root/.peers/.fetch-aws4.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "fetching botocore==$version from PyPI for the SigV4 test suite" >&2
python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --no-binary :all: --dest "$work" "botocore==$version" >&2 || {
    # pip may fail at preparing metadata (no setuptools here) after the download itself
    # succeeded; the archive is all we need.
    [ -f "$work/botocore-$version.tar.gz" ] || exit 1
}

archive="$work/botocore-$version.tar.gz"
actual="$(sha256sum "$archive" | cut -d' ' -f1)"
if [ "$actual" != "$sha256" ]; then
    echo "botocore-$version.tar.gz has SHA-256 $actual, expected $sha256" >&2
    exit 1
fi

tar -xzf "$archive" -C "$work" "botocore-$version/tests/unit/auth/aws4_testsuite"
# -T: fail rather than move into an existing directory (another run got there first).
mv -T "$work/botocore-$version/tests/unit/auth/aws4_testsuite" "$dest" 2>/dev/null || [ -d "$dest" ]
echo "SigV4 test suite ready in $dest" >&2

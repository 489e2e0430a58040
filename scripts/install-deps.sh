#!/usr/bin/env bash
# Installs what cloudc and its tests need on Debian/Ubuntu (as root). Idempotent and quiet
# when everything is already there. Swift itself must already be installed (swift.org).
set -euo pipefail

APT_PACKAGES=(libcurl4-openssl-dev libxml2-dev libssh2-1-dev openssh-client openssh-server util-linux python3 python3-pip
              ca-certificates curl bc zsh   # zsh: README examples are pasted into bash and zsh by the tests
              systemd-container debootstrap slurm-wlm munge iproute2    # the local provider and its tests
              python3-venv python3-dev gcc)   # the OpenStack peers: Keystone in a venv, uWSGI compiles (fetch-openstack.sh)
PIP_PACKAGES=("moto[server]==5.2.1" "boto3" "cryptography"   # cryptography: the GCE peer checks RS256 JWTs
              "ansible-core==2.19.14")   # ansible-inventory and ansible read `cloudc export --format ansible-inventory`
                                         # (pip: ~20 s; Debian's ansible-core would pull the 260 MB `ansible` as a Recommends)

if ! command -v swift >/dev/null; then
    echo "error: Swift 6 is not installed; get it from https://www.swift.org/install/linux/ and run this again" >&2
    exit 1
fi

missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "Installing ${missing[*]} (apt)…"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v moto_server >/dev/null || ! python3 -c 'import moto, boto3, cryptography' 2>/dev/null \
    || [ "$(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null)" != "5.2.1" ] \
    || ! command -v ansible-inventory >/dev/null \
    || [ "$(python3 -c 'import ansible.release; print(ansible.release.__version__)' 2>/dev/null)" != "2.19.14" ]; then
    echo "Installing ${PIP_PACKAGES[*]} (pip)…"
    python3 -m pip install -q "${PIP_PACKAGES[@]}" 2>/dev/null \
        || python3 -m pip install -q --break-system-packages "${PIP_PACKAGES[@]}"
fi

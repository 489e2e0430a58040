#!/bin/sh
# Installs the NVIDIA driver and CUDA on a Debian or Ubuntu node that has an NVIDIA GPU
# but no driver. Run by `cloudc setup` (role gpu-driver); a no-op when nvidia-smi works.
set -eu
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then exit 0; fi
export DEBIAN_FRONTEND=noninteractive
. /etc/os-release
case "$ID" in
  ubuntu)
    apt-get update -q
    apt-get install -y -q ubuntu-drivers-common
    ubuntu-drivers install --gpgpu
    apt-get install -y -q nvidia-cuda-toolkit
    ;;
  debian)
    # The driver lives in contrib/non-free; enable them for this release.
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      sed -i 's/^Components: main$/Components: main contrib non-free non-free-firmware/' /etc/apt/sources.list.d/debian.sources
    else
      sed -i -E 's/^(deb .* main)$/\1 contrib non-free non-free-firmware/' /etc/apt/sources.list
    fi
    apt-get update -q
    apt-get install -y -q "linux-headers-$(uname -r)" nvidia-driver nvidia-smi firmware-misc-nonfree nvidia-cuda-toolkit
    ;;
  *)
    echo "cloudc: cannot install the NVIDIA driver on $ID; use an image that has it" >&2
    exit 1
    ;;
esac
modprobe nvidia || true
nvidia-smi -L

#!/usr/bin/env bash
# Installs the Debian packages qtune needs to build, test and run. Idempotent:
# installs only what is missing (apt needs root; uses sudo when not root).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git python3 python3-numpy python3-onnx
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev
  libabsl-dev libsqlite3-dev sqlite3 nlohmann-json3-dev libonnx-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libxbyak-dev libxgboost-dev xgboost libcpuinfo-dev libpthreadpool-dev
  libdnnl-dev ocl-icd-opencl-dev
  openssl libssl-dev
)

# Installed for this machine's architecture (an arm64 copy from
# setup-aarch64.sh does not count) or architecture-independent.
arch=$(dpkg --print-architecture)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status} ${Architecture}\n' "$p" 2>/dev/null |
      grep -Eq "^install ok installed ($arch|all)$"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

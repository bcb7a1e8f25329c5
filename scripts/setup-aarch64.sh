#!/usr/bin/env bash
# Installs what the aarch64 cross build and its emulated tests need (Debian
# packages; apt as root or through sudo; idempotent: only what is missing):
# the cross compiler, qemu-user, the arm64 multiarch static libraries, and
# llvm-16 for scripts/arm-mca.sh. Then registers qemu-aarch64 with
# binfmt_misc when it can (the agent starts its trial worker with exec, which
# needs it under emulation); says so when it cannot.
set -euo pipefail
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  echo "usage: scripts/setup-aarch64.sh    (installs the aarch64 cross-build packages)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

host_packages=(g++-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-user llvm-16
  protobuf-compiler protobuf-compiler-grpc libpthreadpool-dev)
arm_packages=(libgrpc++-dev:arm64 libprotobuf-dev:arm64 libabsl-dev:arm64
  libgtest-dev:arm64 libgmock-dev:arm64 libc6-dev:arm64 libsqlite3-dev:arm64 libssl-dev:arm64)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${host_packages[@]}" "${arm_packages[@]}"; do
  installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
  fi
  echo "setup-aarch64: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup-aarch64: all $(( ${#host_packages[@]} + ${#arm_packages[@]} )) packages present"
fi

# binfmt_misc: lets an emulated process exec another aarch64 binary.
binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/qemu-aarch64" ]; then
  if [ ! -e "$binfmt/register" ]; then
    $SUDO mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null || true
  fi
  if [ -w "$binfmt/register" ] || [ -n "$SUDO" ]; then
    magic='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
    mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
    printf ':qemu-aarch64:M::%s:%s:%s:' "$magic" "$mask" "$(command -v qemu-aarch64)" |
      $SUDO tee "$binfmt/register" >/dev/null 2>&1 || true
  fi
fi
if [ -e "$binfmt/qemu-aarch64" ]; then
  echo "setup-aarch64: qemu-aarch64 registered with binfmt_misc"
else
  echo "setup-aarch64: cannot register qemu-aarch64 with binfmt_misc (tests that exec the agent's worker will be skipped)"
fi

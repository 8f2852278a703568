#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for clawcage, as root: Debian packages only, a build,
# the built-in image (from busybox-static, nothing pulled) and one host tuning.
# Idempotent. Usage: scripts/setup.sh [BUILD_DIR]   (default ./build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
[ "$(id -u)" = 0 ] || { echo "setup: run as root" >&2; exit 1; }

packages=(build-essential cmake ninja-build pkg-config clang-format
          libseccomp-dev nlohmann-json3-dev libcli11-dev libssl-dev
          libgtest-dev libgmock-dev busybox-static file)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build"

scripts/build-builtin-image.sh

# Host tuning: on cgroup v1 hosts every sandbox is moved into its v1 cgroups, and each
# move takes the cgroup threadgroup lock for writing, which waits for an RCU grace period
# (~16 ms here). favordynmods on the cgroup2 mount makes those writes cheap, for every
# runtime on the host. Skip with CLAWCAGE_NO_TUNE=1; clawcage works either way.
if [ -z "${CLAWCAGE_NO_TUNE:-}" ]; then
  for m in /sys/fs/cgroup/unified /sys/fs/cgroup; do
    line=$(awk -v m="$m" '$5 == m && $9 == "cgroup2"' /proc/self/mountinfo)
    [ -n "$line" ] || continue
    if ! grep -q favordynmods <<<"$line"; then
      if mount -o remount,favordynmods "$m" 2>/dev/null; then echo "setup: favordynmods on $m"
      else echo "setup: could not set favordynmods on $m (clawcage works, spawns are slower)"; fi
    fi
    break
  done
fi
echo "setup: done; binary at $build/clawcage"

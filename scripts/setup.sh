#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for clawcage, as root: Debian packages only, a build,
# the built-in image (from busybox-static, nothing pulled). The host is not reconfigured.
# Idempotent. Usage: scripts/setup.sh [BUILD_DIR]   (default ./build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
[ "$(id -u)" = 0 ] || { echo "setup: run as root" >&2; exit 1; }

packages=(build-essential cmake ninja-build pkg-config clang-format
          libseccomp-dev nlohmann-json3-dev libcli11-dev libarchive-dev nettle-dev
          libsqlite3-dev libmicrohttpd-dev libcurl4-openssl-dev
          libgtest-dev libgmock-dev busybox-static file
          libgpgme-dev libssl-dev   # image signatures: GPG simple signing, sigstore keys
          skopeo umoci gnupg        # image tests: real tools write the archives and signatures
          python3-jsonschema   # validates audit events against share/audit.schema.json in tests
          python3-yaml         # reads deploy/kubernetes manifests in tests
          runsc                # gVisor: the gvisor tier runs tasks under it
          runc                 # the conformance subset runs against it too (runtime-agnostic)
          chromium)            # loads the daemon's web page in the tests
# npm builds the web page's chart library (web/package-lock.json); any npm will do.
command -v npm >/dev/null || packages+=(npm)
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

# Tools for the tests, unpacked from Debian's packages into a cache, not installed, so no
# service is enabled on the host: Prometheus's server and promtool (metrics tests), and
# containerd (it checks deploy/kubernetes/containerd-clawcage.toml).
tools=/var/cache/clawcage/tools
for pkg in prometheus containerd; do
  if [ ! -x "$tools/$pkg/usr/bin/$pkg" ]; then
    echo "setup: unpacking Debian's $pkg into $tools/$pkg"
    scratch=$(mktemp -d)
    (cd "$scratch" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" >/dev/null)
    mkdir -p "$tools"
    rm -rf "$tools/$pkg"
    dpkg-deb -x "$scratch"/"${pkg}"_*.deb "$tools/$pkg"
    rm -rf "$scratch"
  fi
done

# The web page's front-end packages, from the npm registry, pinned by web/package-lock.json;
# CMake embeds the built files in the binary (the page needs no network at run time).
if [ ! -f web/node_modules/chart.js/dist/chart.umd.js ] ||
   [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  echo "setup: npm ci in web/"
  (cd web && npm ci --no-audit --no-fund --silent)
fi

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build"

scripts/build-builtin-image.sh

echo "setup: done; binary at $build/clawcage"

#!/usr/bin/env bash
# The whole test suite, as root: setup (packages, build, image), then ctest. The last
# ctest test checks from the kernel side that no sandbox left anything behind.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
cd build
ctest --output-on-failure -j2 --timeout 600

#!/usr/bin/env bash
# Fails if any sandbox left something in the kernel: a cgroup under */clawcage/, a mount or
# a process naming clawcage test tasks, a state dir under /run/clawcage. Given the clawcage
# binary, it then removes the empty clawcage/ parents (`gc --parents`) and checks that no
# cgroup named clawcage remains at all.
# Usage: scripts/check-leftovers.sh [CLAWCAGE_BINARY]
set -u
left=0
# clawcage/ holds `clawcage run` sandboxes; clawcaged*/ the daemons' tasks (tests use
# clawcaged-test-* parents); clawcage-root-*/ the OCI runtime's under a non-default --root.
for d in /sys/fs/cgroup/*/clawcage /sys/fs/cgroup/clawcage /sys/fs/cgroup/*/clawcaged* /sys/fs/cgroup/clawcaged* \
         /sys/fs/cgroup/*/clawcage-root-* /sys/fs/cgroup/clawcage-root-*; do
  [ -d "$d" ] || continue
  for c in "$d"/*/; do
    [ -d "$c" ] || continue
    echo "leftover cgroup: $c"; left=1
  done
done
if grep -E 'clawcage' /proc/self/mountinfo ; then
  echo "leftover mounts (above)"; left=1
fi
for p in /proc/[0-9]*; do
  pid=${p#/proc/}
  [ "$pid" = $$ ] && continue
  grep -qE '/clawcaged?[^/]*/' "$p/cgroup" 2>/dev/null && { echo "leftover process $pid: $(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)"; left=1; }
done
if [ -d /run/clawcage ] && [ -n "$(find /run/clawcage -mindepth 1 -maxdepth 1 -type d)" ]; then
  echo "leftover state: $(ls /run/clawcage)"; left=1
fi
for d in /run/clawcaged*/sandboxes /tmp/clawcaged-test-*/run/sandboxes; do
  [ -d "$d" ] && [ -n "$(ls -A "$d")" ] && { echo "leftover daemon state in $d: $(ls -A "$d")"; left=1; }
done
if [ "$left" = 0 ] && [ -n "${1:-}" ]; then
  "$1" gc --parents >/dev/null
  for d in /sys/fs/cgroup/*/clawcage /sys/fs/cgroup/clawcage /sys/fs/cgroup/*/clawcaged-test-* /sys/fs/cgroup/clawcaged-test-*; do
    [ -d "$d" ] && { echo "leftover cgroup parent: $d"; left=1; }
  done
fi
[ "$left" = 0 ] && echo "no leftovers"
exit $left

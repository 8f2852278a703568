#!/usr/bin/env bash
# The seed experiment, side by side: N agent tasks at once, each reading the same shared
# read-only input and writing its own output. clawcage runs them through its daemon
# (`clawcage bench`); podman runs the same job with `podman run --rm` at concurrency CONC
# (podman has no daemon queue to submit to). Prints tasks/s for both and the ratio.
# Usage (root): bench/daemon.sh [N=500]   env: CONC [50], PODMAN [1] (0: skip podman)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-500}
CONC=${CONC:-50}
PODMAN=${PODMAN:-1}
CLAWCAGE=${CLAWCAGE:-./build/clawcage}
ROOTFS=/var/lib/clawcage/images/builtin/rootfs
[[ $(id -u) -eq 0 ]] || { echo "run as root" >&2; exit 1; }
echo "# $(date -u '+%F %T') UTC, $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r), clawcage $(git rev-parse --short HEAD)"

echo "## clawcage: $N tasks through the daemon (container tier)"
"$CLAWCAGE" bench -n "$N" --json > /tmp/clawcage-bench-$$.json
python3 - /tmp/clawcage-bench-$$.json <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
w = r["spawn_rate_windows"]
print(f"clawcage: {r['throughput_per_s']:.1f} tasks/s; windows first {w[0]:.0f}/s last {w[-1]:.0f}/s; "
      f"submit->start p50 {r['submit_to_start_ms']['p50']:.1f} ms p99 {r['submit_to_start_ms']['p99']:.1f} ms; "
      f"causes {r['causes']}; leftovers {len(r['leftovers'])}")
EOF
[[ $PODMAN == 1 ]] || exit 0
command -v podman >/dev/null || { echo "podman: not installed"; exit 0; }

echo "## podman run --rm: $N tasks at concurrency $CONC"
WORK=$(mktemp -d /tmp/podman-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/input" "$WORK/out"
head -c 65536 /dev/zero | tr '\0' x > "$WORK/input/data"
IMAGE=localhost/clawcage-bench-busybox:latest
podman image exists "$IMAGE" 2>/dev/null || tar -C "$ROOTFS" -c . | podman import - "$IMAGE" >/dev/null
# crun refuses this hybrid host's cgroup2 mount: podman runs in a mount namespace without it.
# Its default nofile limit (1048576) needs CAP_SYS_RESOURCE, absent here: 1024 as for clawcage.
start=$(date +%s.%N)
seq 1 "$N" | unshare --mount --propagation private -- sh -c '
  umount /sys/fs/cgroup/unified 2>/dev/null
  xargs -P "$0" -I{} sh -c "mkdir -p $1/out/{} && podman run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 -v $1/input:/input:ro -v $1/out/{}:/output $2 sh -c \"wc -c /input/data > /output/result\" >/dev/null 2>&1 || echo fail" ' "$CONC" "$WORK" "$IMAGE" > "$WORK/fails"
end=$(date +%s.%N)
fails=$(grep -c fail "$WORK/fails" || true)
done_ok=$(find "$WORK/out" -name result | wc -l)
python3 -c "print(f'podman: {$N/($end-$start):.1f} tasks/s ({$done_ok} results, $fails failures, {$end-$start:.1f} s)')"

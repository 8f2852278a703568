#!/usr/bin/env bash
# Image benchmark: import and first start of an image of a few hundred MB, clawcage against
# podman on the same machine, from the same docker-archive. Prints one markdown table.
#
#   SIZE_MB [300]   total size of the random-data layers (3 layers), busybox-static on top
#   RUNS [3]        repetitions; the table gives the median
#   CLAWCAGE [./build/clawcage]
#
# Each repetition starts from empty stores (clawcage: a fresh --store; podman: a fresh
# --root with the vfs driver), so "import" includes hashing and copying every blob and
# "first start" includes assembling the rootfs; "second start" reuses it.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
SIZE_MB=${SIZE_MB:-300}
RUNS=${RUNS:-3}
CLAWCAGE=${CLAWCAGE:-$REPO/build/clawcage}
for t in umoci skopeo podman; do
  command -v $t >/dev/null || { echo "image.sh: $t is not installed (scripts/setup.sh)" >&2; exit 1; }
done
work=$(mktemp -d /var/tmp/clawcage-bench-image.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The image: busybox-static plus three layers of random data (incompressible).
(
  cd "$work"
  umoci init --layout oci >/dev/null
  umoci new --image oci:big >/dev/null
  umoci unpack --image oci:big b >/dev/null
  mkdir -p b/rootfs/bin b/rootfs/tmp
  cp /bin/busybox b/rootfs/bin/ && ln -s busybox b/rootfs/bin/sh && ln -s busybox b/rootfs/bin/true
  umoci repack --image oci:big b >/dev/null
  for i in 1 2 3; do
    mkdir -p b/rootfs/data
    head -c $((SIZE_MB / 3))M /dev/urandom > b/rootfs/data/blob$i
    umoci repack --image oci:big b >/dev/null
  done
  umoci config --image oci:big --config.cmd /bin/true >/dev/null
  rm -rf b
  echo '{"default":[{"type":"insecureAcceptAnything"}]}' > policy.json
  skopeo copy -q --policy policy.json oci:oci:big docker-archive:big.tar:localhost/big:1 >/dev/null
)
archive_mb=$(( $(stat -c %s "$work/big.tar") / 1048576 ))

# podman's crun refuses this hybrid-cgroup host as it is (see bench/spawn.sh): it runs in a
# private mount namespace without the cgroup2 mount, and without raising rlimits this host
# does not allow (no CAP_SYS_RESOURCE).
in_v1_ns() {
  unshare --mount --propagation private -- sh -c \
    'if mountpoint -q "$0"; then umount "$0" || exit 125; fi; exec "$@"' /sys/fs/cgroup/unified "$@"
}
podman_parent_existed=0
[[ -d /sys/fs/cgroup/pids/libpod_parent ]] && podman_parent_existed=1
cleanup_podman_parent() {
  if [[ $podman_parent_existed == 0 ]]; then
    for d in /sys/fs/cgroup/*/libpod_parent/conmon /sys/fs/cgroup/*/libpod_parent; do
      [[ -d $d ]] && rmdir "$d" 2>/dev/null || true
    done
  fi
}
trap 'rm -rf "$work"; cleanup_podman_parent' EXIT

now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.0f", (b-a)*1000}'; }
median() { sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }

declare -a c_imp c_first c_second p_imp p_first p_second
for r in $(seq "$RUNS"); do
  store="$work/store$r"
  t0=$(now); "$CLAWCAGE" image import "$work/big.tar" --name localhost/big:1 --store "$store" >/dev/null; t1=$(now)
  "$CLAWCAGE" run --store "$store" --image localhost/big:1 >/dev/null; t2=$(now)
  "$CLAWCAGE" run --store "$store" --image localhost/big:1 >/dev/null; t3=$(now)
  c_imp+=("$(ms $t0 $t1)"); c_first+=("$(ms $t1 $t2)"); c_second+=("$(ms $t2 $t3)")
  rm -rf "$store"
  P="podman --root $work/proot$r --runroot $work/prun$r --storage-driver vfs"
  t0=$(now); $P load -q -i "$work/big.tar" >/dev/null; t1=$(now)
  in_v1_ns $P run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 localhost/big:1 >/dev/null; t2=$(now)
  in_v1_ns $P run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 localhost/big:1 >/dev/null; t3=$(now)
  p_imp+=("$(ms $t0 $t1)"); p_first+=("$(ms $t1 $t2)"); p_second+=("$(ms $t2 $t3)")
  $P system reset -f >/dev/null 2>&1 || true
  rm -rf "$work/proot$r" "$work/prun$r"
done
m() { printf '%s\n' "$@" | median; }
ci=$(m "${c_imp[@]}"); cf=$(m "${c_first[@]}"); cs=$(m "${c_second[@]}")
pi=$(m "${p_imp[@]}"); pf=$(m "${p_first[@]}"); ps=$(m "${p_second[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
echo "image: busybox-static + ${SIZE_MB} MB of random data in 3 layers; docker-archive ${archive_mb} MB; median of $RUNS runs"
echo
echo "| step | clawcage ms | podman ms (vfs) | ratio clawcage / podman |"
echo "| --- | ---: | ---: | ---: |"
echo "| import (\`image import\` / \`podman load\`) | $ci | $pi | $(ratio $ci $pi) |"
echo "| first start (\`run\` /bin/true, rootfs assembled) | $cf | $pf | $(ratio $cf $pf) |"
echo "| second start | $cs | $ps | $(ratio $cs $ps) |"
echo "| import + first start | $((ci + cf)) | $((pi + pf)) | $(ratio $((ci + cf)) $((pi + pf))) |"

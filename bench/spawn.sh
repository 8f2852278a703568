#!/usr/bin/env bash
# Spawn benchmark: the same task (/bin/true on the busybox rootfs) through
# several sandbox runners, sequentially (latency) and with CONC workers
# (throughput). Prints one markdown table. See bench/README.md.
#
# Env knobs (defaults in brackets):
#   SEQ [200] CONC_TOTAL [500] CONC [50]      runs per runner
#   PODMAN_SEQ [50] PODMAN_CONC_TOTAL [100]   smaller counts for podman
#   RUNSC_SEQ [50] RUNSC_CONC_TOTAL [100]     smaller counts for runsc and clawcage gvisor
#   WARMUP [3]                                untimed runs before the timed ones
#   TASK_TIMEOUT [30]                         seconds per invocation
#   RUNNER_TIMEOUT [900]                      seconds for a whole runner
#   CLAWCAGE [./build/clawcage]               clawcage binary
#   ROOTFS [/var/lib/clawcage/images/builtin/rootfs]
#   RUNNERS [floor bwrap crun runc runsc podman clawcage-chroot clawcage-container clawcage-strict
#            clawcage-gvisor]
#   PYTHON [/usr/bin/python3 if present, else python3]
#   KEEP_PODMAN_IMAGE [0]                     1: keep the imported podman image
#   QUIET_WAIT [120]                          wait up to this many seconds for the
#                                             CPUs to be < 15% busy before starting
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")

SEQ=${SEQ:-200}
CONC_TOTAL=${CONC_TOTAL:-500}
CONC=${CONC:-50}
PODMAN_SEQ=${PODMAN_SEQ:-50}
PODMAN_CONC_TOTAL=${PODMAN_CONC_TOTAL:-100}
RUNSC_SEQ=${RUNSC_SEQ:-50}
RUNSC_CONC_TOTAL=${RUNSC_CONC_TOTAL:-100}
WARMUP=${WARMUP:-3}
TASK_TIMEOUT=${TASK_TIMEOUT:-30}
RUNNER_TIMEOUT=${RUNNER_TIMEOUT:-900}
ROOTFS_SRC=${ROOTFS:-/var/lib/clawcage/images/builtin/rootfs}
RUNNERS=${RUNNERS:-floor bwrap crun runc runsc podman clawcage-chroot clawcage-container clawcage-strict clawcage-gvisor}
KEEP_PODMAN_IMAGE=${KEEP_PODMAN_IMAGE:-0}
QUIET_WAIT=${QUIET_WAIT:-120}
PODMAN_IMAGE=clawcage-bench-busybox

if [[ -n ${PYTHON:-} ]]; then PY=$PYTHON
elif [[ -x /usr/bin/python3 ]]; then PY=/usr/bin/python3
else PY=python3; fi
STATS="$HERE/spawn_stats.py"

CLAWCAGE=${CLAWCAGE:-./build/clawcage}
if [[ ! -x $CLAWCAGE && -x $REPO/build/clawcage && $CLAWCAGE == ./build/clawcage ]]; then
  CLAWCAGE=$REPO/build/clawcage
fi
[[ -x $CLAWCAGE ]] && CLAWCAGE=$(readlink -f "$CLAWCAGE")

die() { echo "spawn.sh: $*" >&2; exit 1; }
log() { echo "[spawn.sh] $*" >&2; }

[[ $(id -u) -eq 0 ]] || die "run as root (crun/runc/runsc/podman need it here)"
[[ -x $ROOTFS_SRC/bin/true || -L $ROOTFS_SRC/bin/true ]] || die "no /bin/true in rootfs $ROOTFS_SRC"
command -v "$PY" >/dev/null || die "python3 not found"

WORK=$(mktemp -d /tmp/clawcage-bench.XXXXXX) || die "mktemp failed"
RES=$WORK/results
mkdir -p "$RES"
TAG=ccb$$
START_TS=$(date +%s)

# All runners use the same copy of the rootfs (identical to ROOTFS): the path is
# unique to this run, so processes and mounts left behind can be found by it.
BUNDLE=$WORK/bundle
ROOTFS=$BUNDLE/rootfs
mkdir -p "$BUNDLE"
cp -a "$ROOTFS_SRC" "$ROOTFS" || die "cannot copy $ROOTFS_SRC"

# Snapshot the clawcage binary: build/clawcage may be rebuilt by others mid-run.
CLAWCAGE_SRC=$CLAWCAGE
CLAWCAGE_DESC="not found at $CLAWCAGE_SRC"
if [[ -x $CLAWCAGE_SRC ]] && cp "$CLAWCAGE_SRC" "$WORK/clawcage" 2>/dev/null; then
  CLAWCAGE=$WORK/clawcage
  CLAWCAGE_DESC="$("$CLAWCAGE" --version 2>/dev/null | head -n1) ($CLAWCAGE_SRC, built $(date -u -r "$CLAWCAGE_SRC" '+%F %T') UTC, sha256 $(sha256sum "$CLAWCAGE" | cut -c1-12), repo HEAD $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'))"
else
  CLAWCAGE=$WORK/clawcage-missing
fi

UNIFIED=/sys/fs/cgroup/unified
# Run "$@" in a private mount namespace where the cgroup2 mount of this hybrid
# host is gone, so crun (and podman, which uses crun) see a plain v1 host.
in_v1_ns() {
  unshare --mount --propagation private -- sh -c \
    'if mountpoint -q "$0"; then umount "$0" || exit 125; fi; exec "$@"' "$UNIFIED" "$@"
}

PODMAN_PARENT_EXISTED=0
[[ -d /sys/fs/cgroup/pids/libpod_parent ]] && PODMAN_PARENT_EXISTED=1
PODMAN_IMPORTED=0

cleanup_runtime() {  # kind root prefix
  local kind=$1 root=$2 ids id
  case $kind in
    crun)
      ids=$(in_v1_ns crun --root "$root" list -q 2>/dev/null)
      for id in $ids; do in_v1_ns crun --root "$root" delete -f "$id" >/dev/null 2>&1; done ;;
    runc)
      ids=$(runc --root "$root" list -q 2>/dev/null)
      for id in $ids; do runc --root "$root" delete -f "$id" >/dev/null 2>&1; done ;;
    runsc)
      ids=$(runsc --root "$root" list -q 2>/dev/null)
      for id in $ids; do runsc --root "$root" delete -f "$id" >/dev/null 2>&1; done ;;
    podman)
      ids=$(podman ps -a -q --filter "name=$3" 2>/dev/null)
      [[ -n $ids ]] && podman rm -f $ids >/dev/null 2>&1 ;;
  esac
  # cgroup dirs named after our ids (deepest first; only empty ones go)
  find /sys/fs/cgroup -mindepth 2 -maxdepth 5 -depth -type d -name "*$3*" \
    -exec rmdir {} \; 2>/dev/null
  return 0
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for k in crun runc runsc; do
    [[ -d $WORK/$k-root ]] && command -v $k >/dev/null && cleanup_runtime $k "$WORK/$k-root" "$TAG"
  done
  command -v podman >/dev/null && cleanup_runtime podman - "$TAG"
  find /sys/fs/cgroup -mindepth 2 -maxdepth 5 -depth -type d -name "*$TAG*" -exec rmdir {} \; 2>/dev/null
  if [[ $PODMAN_IMPORTED == 1 && $KEEP_PODMAN_IMAGE != 1 ]]; then
    podman rmi -f "$PODMAN_IMAGE" >/dev/null 2>&1
  fi
  if [[ $PODMAN_PARENT_EXISTED == 0 ]]; then
    # podman's shared parent (libpod_parent, with libpod_parent/conmon) was made by this run
    find /sys/fs/cgroup -mindepth 2 -maxdepth 4 -depth -type d -path '*/libpod_parent*' \
      -exec rmdir {} \; 2>/dev/null
  fi
  # nothing of ours may stay mounted under WORK
  grep -q " $WORK" /proc/self/mountinfo && awk -v w="$WORK" '$5 ~ "^"w {print $5}' /proc/self/mountinfo |
    sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf --one-file-system "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- header
log "waiting up to ${QUIET_WAIT}s for a quiet machine"
BUSY_START=$("$PY" "$STATS" cpubusy --wait "$QUIET_WAIT" --below 15)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
FAVOR=off
UNIFIED_OPTS=$(awk '$5=="/sys/fs/cgroup/unified" {print $6, $NF}' /proc/self/mountinfo)
if [[ -z $UNIFIED_OPTS ]]; then FAVOR="n/a (no /sys/fs/cgroup/unified mount)"
elif grep -q favordynmods <<<"$UNIFIED_OPTS"; then FAVOR=on; fi
ver() { command -v "$1" >/dev/null || { echo "not installed"; return 0; }; "$@" 2>&1 | head -n1 || true; }
echo "# clawcage spawn benchmark"
echo
echo "- date: $(date -u)"
echo "- machine: nproc=$(nproc), kernel $(uname -r), Debian $(cat /etc/debian_version 2>/dev/null || echo '?')"
echo "- cgroups: $(if [[ -n $UNIFIED_OPTS ]]; then echo "hybrid (cgroup2 at $UNIFIED: $UNIFIED_OPTS)"; else echo "no $UNIFIED mount"; fi); favordynmods on $UNIFIED: $FAVOR"
echo "- task: /bin/true on a copy of $ROOTFS_SRC; SEQ=$SEQ CONC_TOTAL=$CONC_TOTAL CONC=$CONC WARMUP=$WARMUP TASK_TIMEOUT=${TASK_TIMEOUT}s (podman: $PODMAN_SEQ/$PODMAN_CONC_TOTAL, runsc and clawcage gvisor: $RUNSC_SEQ/$RUNSC_CONC_TOTAL)"
echo "- versions: unshare: $(ver unshare --version); bwrap: $(ver bwrap --version); crun: $(ver crun --version); runc: $(ver runc --version); runsc: $(ver runsc --version); podman: $(ver podman --version); clawcage: $CLAWCAGE_DESC"
echo "- load before: CPUs ${BUSY_START}% busy over 1 s, loadavg $LOAD_START$( ((BUSY_START >= 15)) && echo " (WARNING: machine not idle, numbers are noisy)")"
echo "- driver: $PY ($("$PY" --version 2>&1)), wall time of each invocation via time.perf_counter around subprocess.run"
echo

# ---------------------------------------------------------------- bundle
make_bundle() {
  local gen
  if command -v crun >/dev/null; then gen=crun; elif command -v runc >/dev/null; then gen=runc; else return 1; fi
  (cd "$BUNDLE" && rm -f config.json && $gen spec >/dev/null 2>&1) || return 1
  "$PY" - "$BUNDLE/config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["root"] = {"path": "rootfs", "readonly": True}
json.dump(c, open(p, "w"), indent=1)
EOF
}
BUNDLE_OK=1
make_bundle || BUNDLE_OK=0

# ---------------------------------------------------------------- runner loop
NETNS_BASE="$(ls /run/netns 2>/dev/null) $(ip netns list 2>/dev/null | awk '{print $1}')"
N=0

# bench LABEL KEY SEQ CONC_TOTAL WRAP -- CMD...   (WRAP: host | v1ns)
bench() {
  local label=$1 key=$2 seq=$3 ct=$4 wrap=$5; shift 6
  local out=$RES/$(printf %02d $N)-$key.json prefix=$TAG-$key reason
  N=$((N + 1))
  local -a pre=(timeout -k 10 "$RUNNER_TIMEOUT")
  [[ $wrap == v1ns ]] && pre+=(unshare --mount --propagation private -- sh -c
    'if mountpoint -q "$0"; then umount "$0" || exit 125; fi; exec "$@"' "$UNIFIED")
  log "$label: probe"
  if ! reason=$("${pre[@]}" "$PY" "$STATS" probe --prefix "$prefix" --timeout "$TASK_TIMEOUT" -- "$@" 2>&1); then
    reason=$(echo "$reason" | tail -n1 | tr -d '|' | cut -c1-160)
    log "$label: first try failed: $reason"
    "$PY" "$STATS" na --label "$label" --reason "first try failed: ${reason:-unknown}" \
      --seq "$seq" --conc-total "$ct" --conc "$CONC" --out "$out"
    return 0
  fi
  log "$label: $seq sequential, $ct at concurrency $CONC"
  local t0=$SECONDS
  "${pre[@]}" "$PY" "$STATS" drive --label "$label" --prefix "$prefix" --seq "$seq" \
    --conc-total "$ct" --conc "$CONC" --warmup "$WARMUP" --timeout "$TASK_TIMEOUT" \
    --mount-pattern "$WORK" --mount-pattern "$prefix" --mount-pattern "/merged" --out "$out" -- "$@"
  local rc=$?
  log "$label: done in $((SECONDS - t0))s (rc $rc)"
  if [[ ! -s $out ]]; then
    "$PY" "$STATS" na --label "$label" --reason "driver rc $rc (runner timeout ${RUNNER_TIMEOUT}s?)" \
      --seq "$seq" --conc-total "$ct" --conc "$CONC" --out "$out"
  fi
}

# after LABEL KEY RUNTIME_KIND  -> count leftovers, then clean them up
after() {
  local key=$1 kind=$2 prefix=$TAG-$1 state=0 root=$WORK/$2-root
  local out
  out=$(ls "$RES"/*-"$key".json 2>/dev/null | tail -n1)
  [[ -n $out ]] || return 0
  sleep 0.5   # let asynchronous teardown (netns, gofers) finish
  case $kind in
    crun)  state=$(in_v1_ns crun --root "$root" list -q 2>/dev/null | grep -c . || true) ;;
    runc)  state=$(runc --root "$root" list -q 2>/dev/null | grep -c . || true) ;;
    runsc) state=$(runsc --root "$root" list -q 2>/dev/null | grep -c . || true) ;;
    podman) state=$(podman ps -a -q --filter "name=$prefix" 2>/dev/null | grep -c . || true) ;;
    clawcage) state=$(ls /run/clawcage 2>/dev/null | grep -c -- "$prefix" || true) ;;
  esac
  local -a cg=(--cgroup-pattern "$prefix")
  [[ $kind == podman ]] && cg+=(--cgroup-pattern "libpod-")
  if grep -q '"status": "ok"' "$out"; then
    "$PY" "$STATS" leftovers --pattern "$WORK" --pattern "$prefix" "${cg[@]}" \
      --netns-baseline "$NETNS_BASE" --state "${state:-0}" --out "$out" >/dev/null
  fi
  [[ $kind != none ]] && cleanup_runtime "$kind" "$root" "$prefix"
  [[ $kind == crun || $kind == runc || $kind == runsc ]] && rm -rf "$root"
}

missing() {  # label key seq ct reason
  N=$((N + 1))
  "$PY" "$STATS" na --label "$1" --reason "$5" --seq "$3" --conc-total "$4" --conc "$CONC" \
    --out "$RES/$(printf %02d $((N - 1)))-$2.json"
}

have() { command -v "$1" >/dev/null 2>&1; }

for r in $RUNNERS; do
  case $r in
    floor)
      if have unshare; then
        bench "floor (unshare+chroot)" floor "$SEQ" "$CONC_TOTAL" host -- \
          unshare --user --map-root-user --pid --fork --mount --net --ipc --uts chroot "$ROOTFS" /bin/true
        after floor none
      else missing "floor (unshare+chroot)" floor "$SEQ" "$CONC_TOTAL" "unshare not installed"; fi ;;
    bwrap)
      if have bwrap; then
        bench bwrap bwrap "$SEQ" "$CONC_TOTAL" host -- \
          bwrap --unshare-all --ro-bind "$ROOTFS" / --proc /proc --dev /dev /bin/true
        after bwrap none
      else missing bwrap bwrap "$SEQ" "$CONC_TOTAL" "bwrap not installed"; fi ;;
    crun)
      if ! have crun; then missing crun crun "$SEQ" "$CONC_TOTAL" "crun not installed"
      elif [[ $BUNDLE_OK != 1 ]]; then missing crun crun "$SEQ" "$CONC_TOTAL" "no OCI bundle"
      else
        mkdir -p "$WORK/crun-root"
        bench crun crun "$SEQ" "$CONC_TOTAL" v1ns -- \
          crun --root "$WORK/crun-root" run --bundle "$BUNDLE" "{id}"
        after crun crun
      fi ;;
    runc)
      if ! have runc; then missing runc runc "$SEQ" "$CONC_TOTAL" "runc not installed"
      elif [[ $BUNDLE_OK != 1 ]]; then missing runc runc "$SEQ" "$CONC_TOTAL" "no OCI bundle"
      else
        mkdir -p "$WORK/runc-root"
        bench runc runc "$SEQ" "$CONC_TOTAL" host -- \
          runc --root "$WORK/runc-root" run --bundle "$BUNDLE" "{id}"
        after runc runc
      fi ;;
    runsc)
      if ! have runsc; then missing "runsc (ptrace)" runsc "$RUNSC_SEQ" "$RUNSC_CONC_TOTAL" "runsc not installed"
      elif [[ $BUNDLE_OK != 1 ]]; then missing "runsc (ptrace)" runsc "$RUNSC_SEQ" "$RUNSC_CONC_TOTAL" "no OCI bundle"
      else
        mkdir -p "$WORK/runsc-root"
        bench "runsc (ptrace)" runsc "$RUNSC_SEQ" "$RUNSC_CONC_TOTAL" host -- \
          runsc --root "$WORK/runsc-root" --platform=ptrace --network=none run --bundle "$BUNDLE" "{id}"
        after runsc runsc
      fi ;;
    podman)
      if ! have podman; then missing podman podman "$PODMAN_SEQ" "$PODMAN_CONC_TOTAL" "podman not installed"
      else
        if ! podman image exists "$PODMAN_IMAGE" 2>/dev/null; then
          if tar -C "$ROOTFS" -c . | timeout 300 podman import - "$PODMAN_IMAGE" >/dev/null 2>&1; then
            PODMAN_IMPORTED=1
          fi
        fi
        if podman image exists "$PODMAN_IMAGE" 2>/dev/null; then
          bench "podman (crun)" podman "$PODMAN_SEQ" "$PODMAN_CONC_TOTAL" v1ns -- \
            podman run --rm --name "{id}" --network none \
            --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$PODMAN_IMAGE" /bin/true
          after podman podman
        else missing "podman (crun)" podman "$PODMAN_SEQ" "$PODMAN_CONC_TOTAL" "podman import failed"; fi
      fi ;;
    clawcage-chroot|clawcage-container|clawcage-strict)
      tier=${r#clawcage-}
      if [[ ! -x $CLAWCAGE ]]; then missing "clawcage $tier" "$r" "$SEQ" "$CONC_TOTAL" "no clawcage binary at $CLAWCAGE_SRC"
      else
        bench "clawcage $tier" "$r" "$SEQ" "$CONC_TOTAL" host -- \
          "$CLAWCAGE" run --isolate "$tier" --task "{id}" --rootfs "$ROOTFS" -- /bin/true
        after "$r" clawcage
      fi ;;
    clawcage-gvisor)
      # The gvisor tier: runsc (ptrace) cloned into clawcage's cgroup, strict's spec.
      if [[ ! -x $CLAWCAGE ]]; then missing "clawcage gvisor (ptrace)" "$r" "$RUNSC_SEQ" "$RUNSC_CONC_TOTAL" "no clawcage binary at $CLAWCAGE_SRC"
      elif ! have runsc; then missing "clawcage gvisor (ptrace)" "$r" "$RUNSC_SEQ" "$RUNSC_CONC_TOTAL" "runsc not installed"
      else
        bench "clawcage gvisor (ptrace)" "$r" "$RUNSC_SEQ" "$RUNSC_CONC_TOTAL" host -- \
          "$CLAWCAGE" run --isolate gvisor --gvisor-platform ptrace --task "{id}" --rootfs "$ROOTFS" -- /bin/true
        after "$r" clawcage
      fi ;;
    *) log "unknown runner '$r' (skipped)" ;;
  esac
done

# ---------------------------------------------------------------- table
"$PY" "$STATS" table --ref crun "$RES"/*.json
BUSY_END=$("$PY" "$STATS" cpubusy)
echo
echo "- total bench time: $(( $(date +%s) - START_TS ))s; after: CPUs ${BUSY_END}% busy over 1 s, loadavg $(cut -d' ' -f1-3 /proc/loadavg)$( ((BUSY_END >= 15)) && echo " (WARNING: other load at the end)")"
echo "- leftovers: counted 0.5 s after each runner: cgroup dirs named after its ids (any hierarchy, depth <= 4; podman: libpod-*), mounts in the host mount namespace (and in the runner's private namespace) naming the bundle or ids, live processes whose cmdline/root/cwd/cgroup name them, new network namespaces, runtime state entries; all are cleaned up afterwards"

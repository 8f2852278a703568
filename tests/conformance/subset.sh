#!/usr/bin/env bash
# A fast, runtime-agnostic conformance subset (TAP on stdout), for CI where the
# runtime-tools suite cannot be built: the OCI lifecycle (create, start, state, kill, delete,
# exit codes, state JSON and its transitions, and the errors runc gives for misuse), then
# what a bundle asks of the process: mounts, env, cwd, user, rlimits, capabilities, hostname,
# read-only root, masked and read-only paths. Every refusal must exit non-zero, say what
# runc says, and leave the runtime's state as it was.
#
# Usage (root): tests/conformance/subset.sh RUNTIME [ARGS...]
#   e.g. tests/conformance/subset.sh runc
#        tests/conformance/subset.sh ./build/clawcage oci
#        tests/conformance/subset.sh /usr/bin/crun
# The runtime gets a --root of its own in a scratch dir; the rootfs is busybox-static.
# Exit 0 when every check passes.
set -uo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 RUNTIME [ARGS...]" >&2
  exit 2
fi
[[ $(id -u) == 0 ]] || { echo "$0: run as root" >&2; exit 2; }
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
BUSYBOX=${BUSYBOX:-$(command -v busybox || echo /bin/busybox)}

# A detached container's init outlives `create`: be the subreaper that reaps it, so a stopped
# init does not stay a zombie under a pid 1 that never reaps.
if [[ -z ${CONF_SUBSET_REAPER:-} ]]; then
  export CONF_SUBSET_REAPER=1
  exec "$PY" -c '
import ctypes, os, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
code = 1
while True:
    try:
        p, status = os.wait()
    except ChildProcessError:
        break
    if p == pid:
        code = os.waitstatus_to_exitcode(status)
        code = code if code >= 0 else 128 - code
sys.exit(code)
' "$0" "$@"
fi

work=$(mktemp -d /tmp/conf-subset.XXXXXX)
root=$work/state
mkdir -p "$root"
RT=("$@" --root "$root")
P=conf-sub-$$-  # every container id starts with this
n=0 failed=0 detail= last_run=

cleanup() {
  local id
  for id in $("${RT[@]}" list -q 2>/dev/null); do "${RT[@]}" delete --force "$id" >/dev/null 2>&1; done
  find /sys/fs/cgroup -mindepth 1 -maxdepth 4 -depth -type d -name "$P*" -exec rmdir {} \; 2>/dev/null
  # clawcage puts a non-default root's cgroups under clawcage-root-<sha256(root)[:8]>/.
  rmdir /sys/fs/cgroup/*/"clawcage-root-$(printf %s "$root" | sha256sum | cut -c1-8)" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

ok() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
  n=$((n + 1)); failed=$((failed + 1))
  echo "not ok $n - $1"
  [[ -n ${2:-} ]] && printf '%s\n' "$2" | sed 's/^/  # /'
}
check() {  # name, then a command that must succeed
  local name=$1; shift
  if "$@"; then ok "$name"; else fail "$name" "${detail:-$last_run}"; fi
  detail=
}

# The rootfs: busybox and the applets the checks use, a file and a dir to mask, a dir to
# make read-only, mount points.
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,proc,dev,sys,tmp,etc,work,scratch,data,secretdir,rodir}
cp "$BUSYBOX" "$rootfs/bin/busybox"
for a in sh cat echo id hostname pwd sleep touch grep wc ls kill true false mkdir test; do
  ln -s busybox "$rootfs/bin/$a"
done
chmod 1777 "$rootfs/work"  # writable by a root whose uid a user namespace maps elsewhere
echo secret > "$rootfs/etc/secret"
echo hidden > "$rootfs/secretdir/f"
echo 'root:x:0:0:root:/:/bin/sh' > "$rootfs/etc/passwd"
echo 'root:x:0:' > "$rootfs/etc/group"
hostdata=$work/hostdata
mkdir -p "$hostdata" && echo from-host > "$hostdata/f"

# config.json for a bundle: the base below, edited by a python snippet over `c`.
bundle() {  # dir, python edits
  local dir=$1 edit=${2:-}
  mkdir -p "$dir"
  ROOTFS=$rootfs HOSTDATA=$hostdata "$PY" - "$dir/config.json" "$edit" <<'EOF'
import json, sys
caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID", "CAP_SETUID"]
c = {
  "ociVersion": "1.0.2",
  "process": {
    "terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["sh", "-c", "true"],
    "env": ["PATH=/bin", "HOME=/"], "cwd": "/",
    "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": True,
  },
  "root": {"path": __import__("os").environ["ROOTFS"], "readonly": False},
  "hostname": "conf-subset",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]},
  ],
  "linux": {
    "namespaces": [{"type": t} for t in ["pid", "network", "ipc", "uts", "mount"]],
    "maskedPaths": [], "readonlyPaths": [],
  },
}
exec(sys.argv[2])
json.dump(c, open(sys.argv[1], "w"), indent=2)
EOF
}

# Runs a bundle attached (`run`), stdout and stderr to files; sets rc, out, err.
run_bundle() {  # id, bundle dir
  "${RT[@]}" run --bundle "$2" "$1" > "$work/out" 2> "$work/err" < /dev/null
  rc=$?
  out=$(cat "$work/out"); err=$(cat "$work/err")
  detail="rc=$rc stdout=[$out] stderr=[$err]"
  last_run=$detail
}

state_field() {  # id, field: prints the field of `state`, or nothing
  "${RT[@]}" state "$1" 2>/dev/null |
    "$PY" -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$2" 2>/dev/null
}
wait_status() {  # id, status: up to 5 s
  local i
  for i in $(seq 50); do
    [[ $(state_field "$1" status) == "$2" ]] && return 0
    sleep 0.1
  done
  return 1
}
listed() { "${RT[@]}" list -q 2>/dev/null | grep -qx -- "$1"; }
nothing_listed() { [[ -z $("${RT[@]}" list -q 2>/dev/null) ]]; }
# A refusal: non-zero exit, stderr matching a pattern (case-insensitive extended regex): the
# patterns accept runc's wording (and crun's, where it differs).
refused() {  # pattern, command...
  local pat=$1; shift
  "$@" > "$work/out" 2> "$work/err" < /dev/null
  rc=$?
  err=$(cat "$work/err" "$work/out")
  detail="rc=$rc output=[$err] expected /$pat/"
  [[ $rc != 0 ]] && grep -Eqi -- "$pat" <<< "$err"
}

echo "# runtime: $*"

# --- lifecycle ---------------------------------------------------------------------------
b=$work/b-life
bundle "$b" 'c["process"]["args"] = ["sleep", "60"]'
id=${P}life
"${RT[@]}" create --bundle "$b" "$id" > /dev/null 2> "$work/err" < /dev/null
rc=$?; detail="rc=$rc stderr=[$(cat "$work/err")]"
check "create exits 0" test "$rc" = 0
detail=$("${RT[@]}" state "$id" 2>&1)
check "state after create is \"created\"" test "$(state_field "$id" status)" = created
state_json=$("${RT[@]}" state "$id" 2>/dev/null)
detail=$state_json
check "state JSON has ociVersion, id, pid, bundle" "$PY" -c '
import json, os, sys
s = json.loads(sys.argv[1])
assert s["ociVersion"] and s["id"] == sys.argv[2] and s["status"] == "created"
assert isinstance(s["pid"], int) and s["pid"] > 0 and os.path.exists("/proc/%d" % s["pid"])
assert os.path.realpath(s["bundle"]) == os.path.realpath(sys.argv[3])
' "$state_json" "$id" "$b"
check "create twice with one id is refused" refused "exist" "${RT[@]}" create --bundle "$b" "$id"
detail=$("${RT[@]}" state "$id" 2>&1)
check "... and the first container is still \"created\"" test "$(state_field "$id" status)" = created
"${RT[@]}" start "$id" > /dev/null 2> "$work/err"
rc=$?; detail="rc=$rc stderr=[$(cat "$work/err")]"
check "start exits 0" test "$rc" = 0
detail=$("${RT[@]}" state "$id" 2>&1)
check "state after start is \"running\"" test "$(state_field "$id" status)" = running
check "start of a running container is refused" refused "running|not.*created|exec.fifo" "${RT[@]}" start "$id"
check "delete of a running container without --force is refused" \
  refused "running|not stopped|not in .created. or .stopped." "${RT[@]}" delete "$id"
detail=$("${RT[@]}" state "$id" 2>&1)
check "... and it is still \"running\"" test "$(state_field "$id" status)" = running
check "list shows it" listed "$id"
"${RT[@]}" kill "$id" KILL > /dev/null 2> "$work/err"
rc=$?; detail="rc=$rc stderr=[$(cat "$work/err")]"
check "kill KILL exits 0" test "$rc" = 0
detail=$("${RT[@]}" state "$id" 2>&1)
check "state after the init is killed is \"stopped\"" wait_status "$id" stopped
check "start of a stopped container is refused" refused "stopped|not.*created|not running" "${RT[@]}" start "$id"
"${RT[@]}" delete "$id" > /dev/null 2> "$work/err"
rc=$?; detail="rc=$rc stderr=[$(cat "$work/err")]"
check "delete of a stopped container exits 0" test "$rc" = 0
check "state of a deleted container is refused" refused "not exist|no such|not found" "${RT[@]}" state "$id"
check "kill of an unknown container is refused" refused "not exist|no such|not found" "${RT[@]}" kill "${P}nope" KILL
check "delete of an unknown container is refused" refused "not exist|no such|not found" "${RT[@]}" delete "${P}nope"

id=${P}term
bundle "$b" 'c["process"]["args"] = ["sh", "-c", "trap \"exit 0\" TERM; while :; do sleep 0.1; done"]'
"${RT[@]}" create --bundle "$b" "$id" > /dev/null 2>&1 < /dev/null
"${RT[@]}" start "$id" > /dev/null 2>&1
sleep 0.3
"${RT[@]}" kill "$id" > /dev/null 2> "$work/err"
rc=$?; detail="rc=$rc stderr=[$(cat "$work/err")]"
check "kill without a signal (SIGTERM) exits 0" test "$rc" = 0
detail=$("${RT[@]}" state "$id" 2>&1)
check "a SIGTERM-handling init stops" wait_status "$id" stopped
"${RT[@]}" delete "$id" > /dev/null 2>&1

id=${P}force
bundle "$b" 'c["process"]["args"] = ["sleep", "60"]'
"${RT[@]}" create --bundle "$b" "$id" > /dev/null 2>&1 < /dev/null
"${RT[@]}" start "$id" > /dev/null 2>&1
"${RT[@]}" delete --force "$id" > /dev/null 2> "$work/err"
rc=$?; detail="rc=$rc stderr=[$(cat "$work/err")]"
check "delete --force of a running container exits 0" test "$rc" = 0
check "... and it is gone" test -z "$("${RT[@]}" list -q 2>/dev/null | grep -x -- "$id")"

id=${P}created
"${RT[@]}" create --bundle "$b" "$id" > /dev/null 2>&1 < /dev/null
# (Without --force, the runtime-spec says this must fail; runc deletes it anyway.)
"${RT[@]}" delete --force "$id" > /dev/null 2> "$work/err"
rc=$?; detail="rc=$rc stderr=[$(cat "$work/err")]"
check "delete --force of a created (never started) container exits 0" test "$rc" = 0
check "... and it is gone" test -z "$("${RT[@]}" list -q 2>/dev/null | grep -x -- "$id")"

# --- exit codes ----------------------------------------------------------------------------
bundle "$b" 'c["process"]["args"] = ["sh", "-c", "exit 3"]'
run_bundle "${P}exit3" "$b"
check "run exits with the payload's code (3)" test "$rc" = 3
bundle "$b" 'c["process"]["args"] = ["sleep", "60"]'
"${RT[@]}" run --bundle "$b" "${P}sig9" > /dev/null 2>&1 < /dev/null &
runner=$!
wait_status "${P}sig9" running
"${RT[@]}" kill "${P}sig9" KILL > /dev/null 2>&1
wait $runner
rc=$?; detail="rc=$rc"
check "run of an init killed by SIGKILL exits 137" test "$rc" = 137
check "run deletes its container" nothing_listed

# --- bad input -----------------------------------------------------------------------------
check "a missing bundle is refused" \
  refused "no such file|not found|not exist" "${RT[@]}" create --bundle "$work/nope" "${P}nobundle"
check "... and leaves nothing" nothing_listed
mkdir -p "$work/b-bad"
echo '{"ociVersion": "1.0.2", "process": {' > "$work/b-bad/config.json"
check "a malformed config.json is refused" \
  refused "json|unexpected|invalid|parse" "${RT[@]}" create --bundle "$work/b-bad" "${P}badjson"
check "... and leaves nothing" nothing_listed
bundle "$b" 'c["process"]["args"] = ["/bin/nope"]'
check "a missing executable is refused" \
  refused "nope.*(no such file|not found)|(no such file|not found).*nope" \
  "${RT[@]}" run --bundle "$b" "${P}noexec"
check "... and leaves nothing" nothing_listed
check "... also by create" \
  refused "nope.*(no such file|not found)|(no such file|not found).*nope" \
  "${RT[@]}" create --bundle "$b" "${P}noexec2"
check "... and leaves nothing" nothing_listed

# --- the process a bundle asks for ---------------------------------------------------------
bundle "$b" 'c["process"]["args"] = ["sh", "-c", "echo $$ $GREETING; pwd"]
c["process"]["env"].append("GREETING=hello")
c["process"]["cwd"] = "/work"'
run_bundle "${P}env" "$b"
check "the init is pid 1 in its pid namespace, env is set" test "$(head -1 <<< "$out")" = "1 hello"
check "cwd is process.cwd" test "$(tail -1 <<< "$out")" = /work

bundle "$b" 'c["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [2000]}
c["process"]["args"] = ["sh", "-c", "id -u; id -g; id -G"]'
run_bundle "${P}user" "$b"
check "process.user: uid, gid and additionalGids" test "$(echo $out)" = "1000 1001 1001 2000"

bundle "$b" 'c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
                           {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]
c["process"]["args"] = ["sh", "-c", "grep -E \"^Max (open files|core file size)\" /proc/self/limits"]'
run_bundle "${P}rlimit" "$b"
check "process.rlimits: NOFILE 100/200" grep -Eq "^Max open files +100 +200 " <<< "$out"
check "process.rlimits: CORE 0/0" grep -Eq "^Max core file size +0 +0 " <<< "$out"

bundle "$b" 'caps = ["CAP_CHOWN", "CAP_KILL"]
c["process"]["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps}
c["process"]["args"] = ["sh", "-c", "grep -E \"^Cap(Eff|Bnd|Prm):\" /proc/self/status"]'
run_bundle "${P}caps" "$b"
check "process.capabilities: effective is exactly CHOWN+KILL" grep -q "^CapEff:.0000000000000021$" <<< "$out"
check "process.capabilities: bounding is exactly CHOWN+KILL" grep -q "^CapBnd:.0000000000000021$" <<< "$out"

bundle "$b" 'c["hostname"] = "conf-host"
c["process"]["args"] = ["hostname"]'
run_bundle "${P}host" "$b"
check "hostname" test "$out" = conf-host

bundle "$b" 'c["root"]["readonly"] = True
c["process"]["args"] = ["sh", "-c", "touch /x 2>/dev/null && echo rw || echo ro; touch /tmp/x && echo tmp-rw"]'
run_bundle "${P}roroot" "$b"
check "root.readonly: the root is read-only, a tmpfs on it is not" test "$(echo $out)" = "ro tmp-rw"
check "... and the rootfs is unchanged" test ! -e "$rootfs/x"

bundle "$b" 'c["mounts"] += [
  {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
  {"destination": "/data", "type": "bind", "source": __import__("os").environ["HOSTDATA"],
   "options": ["rbind", "ro"]}]
c["process"]["args"] = ["sh", "-c", "touch /scratch/a && echo scratch-rw; cat /data/f; touch /data/g 2>/dev/null && echo data-rw || echo data-ro"]'
run_bundle "${P}mounts" "$b"
check "mounts: tmpfs, and a read-only bind of a host dir" test "$(echo $out)" = "scratch-rw from-host data-ro"
check "... and the host dir is unchanged" test ! -e "$hostdata/g"

bundle "$b" 'c["linux"]["maskedPaths"] = ["/etc/secret", "/secretdir"]
c["linux"]["readonlyPaths"] = ["/rodir"]
c["process"]["args"] = ["sh", "-c", "echo [$(cat /etc/secret)] [$(ls /secretdir)]; touch /rodir/x 2>/dev/null && echo rodir-rw || echo rodir-ro; touch /work/x && echo root-rw"]'
run_bundle "${P}mask" "$b"
check "maskedPaths: a file and a dir read empty" test "$(head -1 <<< "$out")" = "[] []"
check "readonlyPaths: read-only, the rest of the root writable" test "$(echo $(tail -2 <<< "$out"))" = "rodir-ro root-rw"
rm -f "$rootfs/work/x"

# --- nothing left --------------------------------------------------------------------------
detail=$("${RT[@]}" list 2>&1)
check "nothing is listed at the end" nothing_listed
left=$(find /sys/fs/cgroup -mindepth 1 -maxdepth 4 -type d -name "$P*" 2>/dev/null)
detail=$left
check "no cgroup named after a container is left" test -z "$left"

echo "1..$n"
[[ $failed == 0 ]]

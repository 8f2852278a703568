#!/usr/bin/env bash
# The opencontainers runtime-tools validation suite against clawcage (as clawcage-runc),
# crun and runc on this machine, side by side: one markdown table on stdout, per program
# pass/fail and TAP ok/not-ok counts per runtime, and totals.
#
# Usage (root): tests/conformance/run.sh RUNTIME_TOOLS_DIR
#   RUNTIME_TOOLS_DIR: a runtime-tools checkout built with
#   `make tool runtimetest validation-executables` (README → Conformance says how).
# Environment:
#   RUNTIMES   which runtimes, in column order (default "clawcage crun runc")
#   CLAWCAGE   the built clawcage binary (default ./build/clawcage beside this script's repo)
#   PROGRAMS   validation programs to run (default: all of validation/*/*.t)
#   TIMEOUT    seconds per program (default 120)
#   KEEP_LOGS  a directory to keep each program's TAP and stderr in (default: thrown away)
#
# Each runtime gets a state root of its own in a scratch dir (runc's and crun's --root,
# clawcage's --root), so nothing here touches other users' containers. crun runs in a
# private mount namespace with /sys/fs/cgroup/unified unmounted: on a hybrid host it
# would otherwise take the cgroup2 mount for a v2 host. After each program, whatever the
# runtime still lists is force-deleted; at the end the state roots, the suite's bundles
# in $TMPDIR and the suite's cgroups (cgrouptest, testdir, and the ids it used) are checked
# and removed, and what had to be removed is reported under the table.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
rt=${1:-}
if [[ -z $rt || ! -x $rt/runtimetest ]]; then
  echo "usage: $0 RUNTIME_TOOLS_DIR   (a built runtime-tools checkout: runtimetest missing)" >&2
  exit 2
fi
rt=$(cd "$rt" && pwd)
[[ $(id -u) == 0 ]] || { echo "$0: run as root" >&2; exit 2; }
RUNTIMES=${RUNTIMES:-clawcage crun runc}
CLAWCAGE=${CLAWCAGE:-$repo/build/clawcage}
TIMEOUT=${TIMEOUT:-120}
if [[ -z ${PROGRAMS:-} ]]; then
  PROGRAMS=$(cd "$rt/validation" && ls -d */ | tr -d / | while read -r p; do
    [[ -x $p/$p.t ]] && echo "$p"; done)
fi

work=$(mktemp -d /var/tmp/conformance.XXXXXX)
mkdir -p "$work/bin" "$work/logs"
tmp_before=$(ls -d /tmp/ocitest* /tmp/oci-pid* 2>/dev/null | sort)

uuid_re='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
cgroups_of_suite() {  # cgroup dirs the suite's containers may have made
  find /sys/fs/cgroup -mindepth 2 -maxdepth 6 -depth -type d \
    \( -name cgrouptest -o -name testdir -o -regextype egrep -regex ".*/$uuid_re" \) 2>/dev/null
}
cg_before=$(cgroups_of_suite | sort)

# One wrapper per runtime: the suite calls $RUNTIME VERB ...
for r in $RUNTIMES; do
  root=$work/$r-root
  mkdir -p "$root"
  case $r in
    clawcage)
      [[ -x $CLAWCAGE ]] || { echo "$0: $CLAWCAGE: not built" >&2; exit 2; }
      ln -s "$(realpath "$CLAWCAGE")" "$work/bin/clawcage-runc"
      printf '#!/bin/sh\nexec %q --root %q "$@"\n' "$work/bin/clawcage-runc" "$root" \
        > "$work/bin/clawcage" ;;
    crun)
      printf '#!/bin/sh\nexec unshare --mount --propagation private -- sh -c '\''if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || exit 125; fi; exec crun --root "$0" "$@"'\'' %q "$@"\n' \
        "$root" > "$work/bin/crun" ;;
    runc)
      printf '#!/bin/sh\nexec runc --root %q "$@"\n' "$root" > "$work/bin/runc" ;;
    *) echo "$0: unknown runtime $r (clawcage, crun, runc)" >&2; exit 2 ;;
  esac
  chmod +x "$work/bin/$r"
done

version_of() {
  case $1 in
    clawcage) echo "clawcage $(git -C "$repo" rev-parse --short HEAD 2>/dev/null)$(git -C "$repo" diff --quiet HEAD 2>/dev/null || echo +dirty)" ;;
    crun) crun --version | head -1 ;;
    runc) runc --version | head -1 ;;
  esac
}

# Force-delete whatever a runtime still lists (a program that failed half-way).
sweep() {  # runtime
  local id left=0
  for id in $("$work/bin/$1" list -q 2>/dev/null); do
    "$work/bin/$1" delete --force "$id" >/dev/null 2>&1
    left=$((left + 1))
  done
  echo "$left"
}

declare -A res ok nok swept
for r in $RUNTIMES; do swept[$r]=0; done
for r in $RUNTIMES; do
  for p in $PROGRAMS; do
    out=$work/logs/$r.$p.tap err=$work/logs/$r.$p.err
    (cd "$rt" && RUNTIME=$work/bin/$r timeout -k 10 "$TIMEOUT" "./validation/$p/$p.t") \
      > "$out" 2> "$err" < /dev/null
    rc=$?
    o=$(grep -c '^ok ' "$out"); n=$(grep -c '^not ok ' "$out")
    ok[$r.$p]=$o; nok[$r.$p]=$n
    if [[ $rc == 124 || $rc == 137 ]]; then res[$r.$p]="timeout"
    elif [[ $rc == 0 && $n == 0 && $o -gt 0 ]]; then res[$r.$p]="pass"
    else res[$r.$p]="fail"; fi
    s=$(sweep "$r"); swept[$r]=$((swept[$r] + s))
    echo "$r $p: ${res[$r.$p]} ($o ok, $n not ok, rc $rc)" >&2
  done
done

# Leftovers: state the runtimes still hold, the suite's bundles, cgroups.
leftovers=()
for r in $RUNTIMES; do
  [[ ${swept[$r]} != 0 ]] && leftovers+=("$r: ${swept[$r]} container(s) still listed after their program, force-deleted")
  n=$(find "$work/$r-root" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  [[ $n != 0 ]] && leftovers+=("$r: $n entries left in its state root")
done
for d in $(comm -13 <(echo "$tmp_before") <(ls -d /tmp/ocitest* /tmp/oci-pid* 2>/dev/null | sort)); do
  # A program that asks for no mount namespace (linux_ns_itype) has a runtime mount the
  # container's filesystems in the host's, under its bundle.
  if grep -q " $d[ /]" /proc/self/mountinfo; then
    leftovers+=("mounts left behind under $d (unmounted)"); umount -R "$d" 2>/dev/null || umount -R -l "$d"
  fi
  leftovers+=("bundle left behind: $d (removed)"); rm -rf "$d"
done
for d in $(comm -13 <(echo "$cg_before") <(cgroups_of_suite | sort) | sort -r); do
  rmdir "$d" 2>/dev/null && leftovers+=("cgroup left behind: $d (removed)") ||
    leftovers+=("cgroup left behind: $d (NOT removable)")
done
if [[ -x $CLAWCAGE && " $RUNTIMES " == *" clawcage "* ]]; then
  "$CLAWCAGE" gc --root "$work/clawcage-root" >/dev/null 2>&1
  # A non-default root's cgroups live under clawcage-root-<sha256(root)[:8]>/.
  rmdir /sys/fs/cgroup/*/"clawcage-root-$(printf %s "$work/clawcage-root" | sha256sum | cut -c1-8)" 2>/dev/null
fi

# The table.
hdr="| program |"; sep="| --- |"
for r in $RUNTIMES; do hdr+=" $r |"; sep+=" --- |"; done
echo "$hdr"; echo "$sep"
declare -A clean tok tnok
for r in $RUNTIMES; do clean[$r]=0; tok[$r]=0; tnok[$r]=0; done
count=0
for p in $PROGRAMS; do
  count=$((count + 1))
  line="| $p |"
  for r in $RUNTIMES; do
    line+=" ${res[$r.$p]} (${ok[$r.$p]}/${nok[$r.$p]}) |"
    [[ ${res[$r.$p]} == pass ]] && clean[$r]=$((clean[$r] + 1))
    tok[$r]=$((tok[$r] + ok[$r.$p])); tnok[$r]=$((tnok[$r] + nok[$r.$p]))
  done
  echo "$line"
done
line="| **total: clean programs (ok/not ok)** |"
for r in $RUNTIMES; do line+=" **${clean[$r]}/$count** (${tok[$r]}/${tnok[$r]}) |"; done
echo "$line"
echo
echo "Cells: pass = exit 0 with no \`not ok\`; (ok/not ok) = TAP lines. Timeout ${TIMEOUT}s per program."
for r in $RUNTIMES; do echo "- $r: $(version_of "$r")"; done
if [[ ${#leftovers[@]} == 0 ]]; then
  echo "- leftovers: none (state roots, bundles, cgroups checked)"
else
  for l in "${leftovers[@]}"; do echo "- leftover: $l"; done
fi

if [[ -n ${KEEP_LOGS:-} ]]; then mkdir -p "$KEEP_LOGS" && cp "$work"/logs/* "$KEEP_LOGS"/; fi
rm -rf "$work"

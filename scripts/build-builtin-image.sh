#!/usr/bin/env bash
# Builds clawcage's built-in image from Debian's busybox-static: a rootfs directory with
# busybox and its applet links, an /etc with passwd/group, and nothing pulled from anywhere.
# Usage: scripts/build-builtin-image.sh [DEST]   (default /var/lib/clawcage/images/builtin)
set -euo pipefail
dest=${1:-/var/lib/clawcage/images/builtin}
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "build-builtin-image: $busybox missing (apt-get install busybox-static)" >&2; exit 1; }
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || ldd "$busybox" 2>&1 | grep -q 'not a dynamic' \
  || { echo "build-builtin-image: $busybox is not static" >&2; exit 1; }
tmp=$(mktemp -d "${dest%/*}/.builtin.XXXXXX" 2>/dev/null || { mkdir -p "${dest%/*}"; mktemp -d "${dest%/*}/.builtin.XXXXXX"; })
trap 'rm -rf "$tmp"' EXIT
root=$tmp/rootfs
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,tmp,root,home,var/tmp,run,shared_input,output,scratch}
chmod 1777 "$root/tmp" "$root/var/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list-full); do
  [ "$applet" = bin/busybox ] && continue
  ln -sf /bin/busybox "$root/$applet"
done
cat > "$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
agent:x:1000:1000:agent:/home/agent:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$root/etc/group" <<'G'
root:x:0:
agent:x:1000:
nogroup:x:65534:
G
mkdir -p "$root/home/agent"
echo "clawcage-builtin" > "$root/etc/hostname"
: > "$root/etc/resolv.conf"
printf 'builtin busybox-static %s\n' "$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo unknown)" > "$tmp/VERSION"
rm -rf "$dest.old"
[ -e "$dest" ] && mv "$dest" "$dest.old"
mv "$tmp" "$dest"
chmod 755 "$dest"
rm -rf "$dest.old"
trap - EXIT
echo "built-in image: $dest/rootfs ($(cat "$dest/VERSION"))"

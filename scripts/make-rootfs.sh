#!/bin/sh
# Builds a minimal root filesystem for pivot_root tests from Debian's busybox-static:
#   scripts/make-rootfs.sh DIR
# DIR gets bin/busybox with one symlink per applet, empty /proc, /dev, /tmp, /app and /.old_root mount points,
# and an /etc/passwd and /etc/group with root and nobody (uid/gid names resolve inside the jail).
set -eu
dir=${1:?usage: make-rootfs.sh DIR}
busybox=$(command -v busybox) || { echo "make-rootfs.sh: busybox is not installed (apt-get install busybox-static)" >&2; exit 1; }
if ldd "$busybox" >/dev/null 2>&1; then
  echo "make-rootfs.sh: $busybox is dynamically linked; the rootfs needs busybox-static" >&2
  exit 1
fi
mkdir -p "$dir/bin" "$dir/etc" "$dir/proc" "$dir/dev" "$dir/tmp" "$dir/app" "$dir/.old_root"
chmod 1777 "$dir/tmp"
cp "$busybox" "$dir/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
done
printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir/etc/group"

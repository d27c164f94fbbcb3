#!/usr/bin/env bash
# Runs COMMAND where podman can work: with "/" a mount point and /sys mounted.
#
# podman reads /sys (cgroups) before anything else, and its layer unpacking (containers/
# storage's chrootarchive) makes "/" a private mount, which fails with "remount /, flags:
# 0x44000: invalid argument" when "/" is not a mount point. Both hold in a plain chroot, such
# as a fresh machine made with debootstrap. There, COMMAND runs in a mount namespace of its
# own whose root is a recursive bind mount of this one (so every file and mount is the same)
# and has sysfs mounted; the namespace and its mounts go away with COMMAND. Elsewhere COMMAND
# runs as it is. Needs root in the chroot case.
#
# usage: rooted.sh COMMAND [ARG...]   (COMMAND with an absolute path; the exit code is its)
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: rooted.sh COMMAND [ARG...]" >&2; exit 2; }
if mountpoint -q / && [ -d /sys/fs/cgroup ]; then exec "$@"; fi
[ "$(id -u)" -eq 0 ] || { echo "rooted.sh: \"/\" is not a mount point or /sys is missing (a chroot?), and fixing that needs root" >&2; exit 1; }
newroot=$(mktemp -d /run/confcenter-rooted.XXXXXX)
rc=0
# --propagation unchanged: "/" cannot be made private here, which is the very problem; the
# bind mount is made private right away so nothing mounted under it reaches the parent.
unshare --mount --propagation unchanged /bin/bash -c '
  set -e
  root=$1; shift
  mount --rbind / "$root"
  mount --make-rprivate "$root"
  [ -d "$root/sys/fs/cgroup" ] || mount -t sysfs sysfs "$root/sys"
  exec chroot "$root" /usr/bin/env -C "$PWD" "$@"' rooted "$newroot" "$@" || rc=$?
umount -R "$newroot" 2> /dev/null || true  # only if a mount leaked out of the namespace
rmdir "$newroot"
exit "$rc"

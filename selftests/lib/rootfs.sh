#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The root file system of the test VMs that boot systemd as PID 1 (groups
# with INIT=systemd, lib/vm.sh): a minimal Debian bookworm, built once with
# mmdebstrap from deb.debian.org and cached in ~/.cache/hvkit/rootfs-<hash>
# (the hash covers the package list and this script). Prints the cache
# directory; the tree is its root/.
#
# mmdebstrap's "essential" variant (dpkg, bash, coreutils, util-linux,
# init-system-helpers: what a maintainer script may use) plus systemd as
# init, udev and kmod: a host as hvkit-tools' maintainer scripts and unit
# meet it, and nothing else (no apt: the tests install with dpkg -i). The
# VM boots it as its initramfs (lib/vm.sh: mk_root), so systemd runs on the
# tmpfs root; there is no /etc/initrd-release, so systemd boots the system
# to its default target instead of an initrd's.
set -euo pipefail
. "$(dirname "$0")/common.sh"

# passwd: groupadd, for the udev rules example's group.
pkgs="systemd systemd-sysv udev kmod passwd"
key=$( {
	echo "$pkgs"
	cat "$0"
} | sha256sum | cut -c1-16)
dir=$HVKIT_CACHE/rootfs-$key
cache_lock rootfs
if [ -f "$dir/.done" ]; then
	echo "$dir"
	exit 0
fi
command -v mmdebstrap >/dev/null || die "no mmdebstrap (lib/deps.sh installs it)"
rm -rf "$dir"
mkdir -p "$dir"
start=$(date +%s)
log "root file system: Debian bookworm with $pkgs (mmdebstrap, once)"
# No documentation, manual pages or translations (a smaller image to
# unpack at every boot); the exclusion is dropped again below, so that
# packages installed in the VM (hvkit-tools' examples) get all their files.
mmdebstrap --variant=essential --include="${pkgs// /,}" \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	bookworm "$dir/root" \
	"deb http://deb.debian.org/debian bookworm main" \
	"deb http://deb.debian.org/debian bookworm-updates main" \
	"deb http://deb.debian.org/debian-security bookworm-security main" \
	>"$dir/mmdebstrap.log" 2>&1 ||
	{ tail -n 40 "$dir/mmdebstrap.log" >&2; die "mmdebstrap failed (log: $dir/mmdebstrap.log)"; }
rm -f "$dir/root/etc/dpkg/dpkg.cfg.d/99mmdebstrap"
# A fixed machine ID: not a first boot (ConditionFirstBoot units such as
# systemd-firstboot, which would prompt on the console, stay quiet).
echo 5e1f7e575e1f7e575e1f7e575e1f7e57 >"$dir/root/etc/machine-id"
echo hvkit-vm >"$dir/root/etc/hostname"
# Units that cost boot time under TCG and serve nothing in a test VM that
# lives for minutes (apt's timers and systemd-timesyncd are not installed:
# no apt, no Recommends):
#   getty.target: no login prompt on tty1 or on the serial console (ttyS0
#     is the console log; an agetty there would also reset the line);
#   systemd-logind: no logins, and without D-Bus it fails and restarts;
#   ldconfig, systemd-hwdb-update, systemd-journal-catalog-update,
#   systemd-update-done: "/usr was updated" jobs (ConditionNeedsUpdate),
#     true at every boot of an image that never keeps /etc; hwdb alone
#     takes seconds under TCG.
for u in getty.target systemd-logind.service ldconfig.service \
	systemd-hwdb-update.service systemd-journal-catalog-update.service \
	systemd-update-done.service; do
	ln -sf /dev/null "$dir/root/etc/systemd/system/$u"
done
du -sh "$dir/root" | cut -f1 >"$dir/size"
touch "$dir/.done"
log "root file system: built in $(($(date +%s) - start)) s, $(cat "$dir/size")"
cache_prune rootfs "$dir"
echo "$dir"

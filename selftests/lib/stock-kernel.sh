#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Fetch (once) Debian's stock kernel image package for the release that
# linux-headers-amd64 depends on, and unpack it into the cache; it is never
# installed on this machine. Prints the unpacked root (boot/vmlinuz-*,
# lib/modules/*).
set -euo pipefail
. "$(dirname "$0")/common.sh"

kver=$(stock_kver)
dir=$HVKIT_CACHE/stock-$kver
if [ -f "$dir/.done" ]; then
	echo "$dir"
	exit 0
fi
rm -rf "$dir"
mkdir -p "$dir/deb"
log "stock kernel: apt-get download linux-image-$kver-unsigned"
(cd "$dir/deb" && apt-get download -q "linux-image-$kver-unsigned" >&2) ||
	die "apt-get download linux-image-$kver-unsigned failed"
dpkg -x "$dir"/deb/*.deb "$dir/root"
rm -rf "$dir/deb"
# The package ships no modules.dep: compute it so the initramfs builder can
# resolve module dependencies (modprobe -d ... --show-depends).
depmod -b "$dir/root" "$kver"
[ -f "$dir/root/boot/vmlinuz-$kver" ] || die "no vmlinuz in the package"
touch "$dir/.done"
echo "$dir"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Fetch (once) Debian's stock kernel image package for the release that
# linux-headers-amd64 depends on, and unpack it into the cache; it is never
# installed on this machine. Prints the unpacked root (boot/vmlinuz-*,
# lib/modules/*).
set -euo pipefail
. "$(dirname "$0")/common.sh"

kver=$(stock_kver)
pkg=linux-image-$kver-unsigned
# The package version is part of the key: Debian can rebuild one ABI.
pver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
[ -n "$pver" ] || die "apt-cache knows no $pkg (apt-get update?)"
dir=$HVKIT_CACHE/stock-$kver-$pver
cache_lock stock
if [ -f "$dir/.done" ]; then
	echo "$dir"
	exit 0
fi
rm -rf "$dir"
mkdir -p "$dir/deb"
log "stock kernel: apt-get download $pkg=$pver"
(cd "$dir/deb" && apt-get download -q "$pkg=$pver" >&2) ||
	die "apt-get download $pkg=$pver failed"
dpkg -x "$dir"/deb/*.deb "$dir/root"
rm -rf "$dir/deb"
# The package ships no modules.dep: compute it so the initramfs builder can
# resolve module dependencies (modprobe -d ... --show-depends).
depmod -b "$dir/root" "$kver"
[ -f "$dir/root/boot/vmlinuz-$kver" ] || die "no vmlinuz in the package"
touch "$dir/.done"
cache_prune stock "$dir"
echo "$dir"

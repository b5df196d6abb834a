#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Install what building and testing hvkit needs on a Debian 12 machine.
# Nothing here installs or boots a kernel on this machine: the kernel image
# is only downloaded and unpacked into the cache (stock-kernel.sh). The
# packaging tools build and check hvkit's own .debs (lib/deb.sh), and
# initramfs-tools runs their hook. The QEMU build dependencies are for the
# test platform's emulator (lib/qemu-build.sh); mmdebstrap builds the
# Debian root file system of the VMs that boot systemd (lib/rootfs.sh).
set -euo pipefail
. "$(dirname "$0")/common.sh"

pkgs="build-essential bc bison flex libelf-dev libssl-dev cpio kmod xz-utils
rsync dwarves qemu-system-x86 qemu-utils busybox-static dkms kexec-tools
sparse shellcheck python3 seabios linux-source-6.1 linux-headers-amd64
dpkg-dev debhelper dh-dkms lintian initramfs-tools systemd mmdebstrap
libglib2.0-dev libpixman-1-dev zlib1g-dev libfdt-dev meson ninja-build pkgconf"
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	[ "$(id -u)" = 0 ] || die "need root to install:$missing"
	log "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
kver=$(stock_kver)
# The cloud flavour's headers too: the package test checks that DKMS
# builds hvkit for every kernel with headers, not only one (lib/deb.sh).
for h in "linux-headers-$kver" "linux-headers-${kver%-amd64}-cloud-amd64"; do
	if ! dpkg-query -W -f='${Status}' "$h" 2>/dev/null | grep -q 'install ok installed'; then
		apt-get install -y -qq --no-install-recommends "$h" >/dev/null
	fi
done

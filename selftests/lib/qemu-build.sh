#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The emulator the test VMs (L1) run in: Debian's own QEMU source, the
# version of the installed qemu-system-x86 package, with the patches of
# selftests/platform/qemu/ (fixes of the emulator's SVM emulation that
# lost or duplicated L2's interrupts, see that directory's README), built
# for x86_64-softmmu only and cached in ~/.cache/hvkit/qemu-<hash>.
# Prints the path of its qemu-system-x86_64.
#
# This binary is only the test platform's L0. Inside L1 (the host under
# test) the VMM stays Debian's unmodified qemu-system-x86_64 (lib/vm.sh
# copies the installed one into the initramfs). HVKIT_QEMU=stock boots
# L1 with the installed, unpatched emulator instead (lib/vm.sh).
set -euo pipefail
. "$(dirname "$0")/common.sh"

here=$(cd "$(dirname "$0")" && pwd)
pdir=$here/../platform/qemu
srcver=$(dpkg-query -W -f='${source:Version}' qemu-system-x86 2>/dev/null) ||
	die "qemu-system-x86 is not installed (lib/deps.sh)"
key=$( {
	echo "$srcver"
	gcc --version | head -n1
	cat "$0" "$pdir"/*.patch
} | sha256sum | cut -c1-16)
dir=$HVKIT_CACHE/qemu-$key
cache_lock qemu
if [ -f "$dir/.done" ]; then
	echo "$dir/bin/qemu-system-x86_64"
	exit 0
fi
rm -rf "$dir"
mkdir -p "$dir/src" "$dir/apt/lists/partial"
start=$(date +%s)
log "emulator: Debian's qemu $srcver source with $(ls "$pdir"/*.patch | wc -l) patches, x86_64-softmmu (a first build takes 3-10 minutes)"
# Debian's source through apt, without touching the machine's apt
# configuration: a private source list and list directory.
cat >"$dir/apt/sources.list" <<EOF
deb-src http://deb.debian.org/debian bookworm main
deb-src http://deb.debian.org/debian bookworm-updates main
deb-src http://deb.debian.org/debian-security bookworm-security main
EOF
apt_src() {
	apt-get -q -o Dir::Etc::SourceList="$dir/apt/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$dir/apt/lists" \
		-o APT::Sandbox::User=root "$@"
}
(apt_src update && cd "$dir/src" && apt_src source --download-only "qemu=$srcver") \
	>"$dir/apt.log" 2>&1 || { cat "$dir/apt.log" >&2; die "apt-get source qemu=$srcver failed"; }
dsc=$(ls "$dir"/src/qemu_*.dsc)
dpkg-source -x "$dsc" "$dir/src/qemu" >"$dir/unpack.log" 2>&1 ||
	{ cat "$dir/unpack.log" >&2; die "dpkg-source -x $dsc failed"; }
for p in "$pdir"/*.patch; do
	patch -d "$dir/src/qemu" -p1 --no-backup-if-mismatch <"$p" >>"$dir/unpack.log" 2>&1 ||
		{ cat "$dir/unpack.log" >&2; die "patch $(basename "$p") does not apply to qemu $srcver"; }
done
mkdir -p "$dir/build"
# The firmware (SeaBIOS, option ROMs, qboot) is Debian's: the installed
# binary's --prefix and --firmwarepath (debian/rules).
(cd "$dir/build" && "$dir/src/qemu/configure" --target-list=x86_64-softmmu \
	--with-pkgversion="Debian $srcver + hvkit selftests/platform/qemu" \
	--prefix=/usr --firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu \
	--disable-docs --disable-werror --disable-user --disable-tools \
	--disable-guest-agent --disable-gtk --disable-sdl --disable-vnc \
	--disable-opengl --disable-spice --disable-xen --disable-kvm &&
	make -j"$(nproc)" qemu-system-x86_64) >"$dir/build.log" 2>&1 ||
	{ tail -n 40 "$dir/build.log" >&2; die "building qemu $srcver failed (log: $dir/build.log)"; }
mkdir -p "$dir/bin"
cp "$dir/build/qemu-system-x86_64" "$dir/bin/"
# QEMU looks for its data and firmware relative to its binary
# (/usr/share/seabios becomes bin/../share/seabios).
ln -s /usr/share "$dir/share"
ln -s /usr/lib "$dir/lib"
"$dir/bin/qemu-system-x86_64" --version | head -n1 >"$dir/version"
rm -rf "$dir/build" "$dir/src" "$dir/apt"
touch "$dir/.done"
log "emulator: built in $(($(date +%s) - start)) s: $(cat "$dir/version")"
cache_prune qemu "$dir"
echo "$dir/bin/qemu-system-x86_64"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build (once) the hvkit debug kernel from Debian's linux-source-6.1 and the
# fragment selftests/config/debug.config, cached in
# $HVKIT_CACHE/debug-<hash>/ where <hash> covers the fragment, this script,
# the version of the linux-source-6.1 package and the compiler. Older builds are removed.
# Prints the path of the built tree (usable as KDIR for M= builds).
set -euo pipefail
. "$(dirname "$0")/common.sh"

frag=$HVKIT_TOP/selftests/config/debug.config
key=$( (cat "$frag" "$0"; dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null
	gcc --version | head -n1) | sha256sum | cut -c1-16)
dir=$HVKIT_CACHE/debug-$key
src=$dir/linux-source-6.1
cache_lock debug

if [ -f "$dir/.built" ]; then
	echo "$src"
	exit 0
fi

tarball=/usr/src/linux-source-6.1.tar.xz
[ -f "$tarball" ] || die "$tarball missing: apt-get install linux-source-6.1"
rm -rf "$dir"
mkdir -p "$dir"
log "debug kernel: extracting $tarball"
tar -C "$dir" -xJf "$tarball"
cd "$src"
log "debug kernel: allnoconfig + $(basename "$frag")"
KCONFIG_ALLCONFIG=$frag make -s allnoconfig >"$dir/config.log" 2>&1 ||
	{ cat "$dir/config.log"; die "allnoconfig failed"; }
# Every option the fragment asks for must have survived Kconfig.
missing=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*)
		grep -qxF "$line" .config || { log "debug.config: '$line' did not survive Kconfig"; missing=1; } ;;
	esac
done <"$frag"
[ "$missing" = 0 ] || die "fix selftests/config/debug.config (dependencies missing)"
start=$(date +%s)
log "debug kernel: building bzImage + modules with $(nproc) jobs (takes a while)"
make -j"$(nproc)" bzImage modules >"$dir/build.log" 2>&1 ||
	{ tail -n 40 "$dir/build.log"; die "debug kernel build failed (log: $dir/build.log)"; }
end=$(date +%s)
echo "$((end - start))" >"$dir/build-seconds"
log "debug kernel: built in $((end - start)) s"
touch "$dir/.built"
cache_prune debug "$dir"
echo "$src"

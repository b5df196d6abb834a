#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Extract (once) from Debian's linux-source-6.1 the few files the tests and
# style checks use: the kselftest harness headers and checkpatch.pl with its
# data files. Prints the directory.
set -euo pipefail
. "$(dirname "$0")/common.sh"

dir=$HVKIT_CACHE/ksrc-$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null)
cache_lock ksrc
if [ -f "$dir/.done" ]; then
	echo "$dir"
	exit 0
fi
tarball=/usr/src/linux-source-6.1.tar.xz
[ -f "$tarball" ] || die "$tarball missing: apt-get install linux-source-6.1"
rm -rf "$dir"
mkdir -p "$dir"
log "extracting kselftest headers and checkpatch from $tarball"
tar -C "$dir" --strip-components=1 -xJf "$tarball" \
	linux-source-6.1/tools/testing/selftests/kselftest.h \
	linux-source-6.1/tools/testing/selftests/kselftest_harness.h \
	linux-source-6.1/scripts/checkpatch.pl \
	linux-source-6.1/scripts/spelling.txt \
	linux-source-6.1/scripts/const_structs.checkpatch
touch "$dir/.done"
echo "$dir"

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A real kexec (kexec -s into the same kernel, same memmap=): an area and
# tagged pool pages keep every byte, the region keeps its uuid and the
# generation and the boot count go up by one. Listed as "kexec:kram_kexec".
# shellcheck source=selftests/tests/kram_lib.sh
. /hvkit/tests/kram_lib
echo "TAP version 13"
kram_need_region
d=/hvkit/kram_kexec	# outside /tmp: carried into the next boot
tag=0x80000077
case "$1" in
stage1)
	rm -rf $d && mkdir -p $d
	cat $KRAM_SYS/generation >$d/generation
	cat $KRAM_SYS/boot_count >$d/boot_count
	cat $KRAM_SYS/uuid >$d/uuid
	check "create area 'kexec' (256 pages)" \
		hvkitctl kram create kexec 256p --version kexec-test/1
	for _ in 1 2 3 4 5 6 7 8 9 10; do [ -c /dev/kram_areas/kexec ] && break; sleep 0.1; done
	check "fill the area" fill_area kexec 256 $d
	check "allocate and fill 64 pool pages with tag $tag" fill_pool $tag 64 $d
	# The copies travel in the next initramfs; the originals in kram.
	echo "# generation $(cat $d/generation), uuid $(cat $d/uuid); kexec next"
	;;
stage2)
	grep -q 'hvkit.stage=2' /proc/cmdline && ok "booted by kexec" || nok "booted by kexec"
	g=$(cat $d/generation)
	check "same region uuid" [ "$(cat $KRAM_SYS/uuid)" = "$(cat $d/uuid)" ]
	check "generation $g -> $((g + 1))" [ "$(cat $KRAM_SYS/generation)" = $((g + 1)) ]
	b=$(cat $d/boot_count)
	check "boot_count $b -> $((b + 1)): the kexec is a new boot" \
		[ "$(cat $KRAM_SYS/boot_count)" = $((b + 1)) ]
	dmesg | grep 'kram: attached' | sed 's/^/# /'
	for _ in 1 2 3 4 5 6 7 8 9 10; do [ -c /dev/kram_areas/kexec ] && break; sleep 0.1; done
	check "area 'kexec' has its 256 pages and version" sh -c \
		"hvkitctl kram areas | grep -q '^kexec *kexec-test/1 *256 '"
	check "area bytes identical after kexec" same_area kexec 256 $d
	check "pool pages of $tag identical after kexec" same_pool $tag $d
	check "free every page of $tag" hvkitctl kram free --tag $tag --all
	check "delete area 'kexec'" hvkitctl kram delete kexec
	rm -rf $d
	;;
*)
	echo "usage: $0 stage1|stage2" >&2
	exit 2
	;;
esac
exit $rc

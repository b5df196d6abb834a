#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# kram refuses what it must and changes nothing when it does: a corrupted
# superblock (even with init=1), a range overlapping System RAM, an
# unaligned range; after the corruption is undone the region attaches
# with every byte. Without region= it finds its region by scanning.
# shellcheck source=selftests/tests/kram_lib.sh
. /hvkit/tests/kram_lib
echo "TAP version 13"
kram_need_region
d=/tmp/kram_refuse
rm -rf $d && mkdir -p $d
read -r base size <$KRAM_SYS/region
check "create area 'keep' and fill it" sh -c \
	". /hvkit/tests/kram_lib; hvkitctl kram create keep 16p && sleep 0.5 && fill_area keep 16 $d"

if [ -e /dev/mem ]; then
	check "modprobe -r kram" modprobe -r kram
	# One bit of the superblock's region_size (offset 0x10).
	addr=$((base + 0x10))
	orig=$(devmem $addr 8)
	devmem $addr 8 $((orig ^ 1))
	dmesg -c >/dev/null
	if modprobe kram 2>$d/err; then
		nok "corrupted superblock refused"
		modprobe -r kram
	else
		ok "corrupted superblock refused: $(cat $d/err | tr '\n' ' ')"
	fi
	check "kernel log names the reason" sh -c "dmesg | grep -q 'refused: superblock checksum mismatch'"
	dmesg | grep kram | sed 's/^/# /'
	check "the corrupt byte is still there (nothing was rewritten)" \
		[ "$(printf %d "$(devmem $addr 8)")" = $((orig ^ 1)) ]
	devmem $addr 8 "$orig"
else
	# Debian's kernel and the debug kernel have /dev/mem (STRICT_DEVMEM
	# lets it reach a reserved range): without it nothing was tested.
	nok "corrupted superblock: no /dev/mem to corrupt it with"
	modprobe -r kram
fi

check "range overlapping System RAM refused" sh -c \
	"! modprobe kram region=16M@0x1000000 init=0 2>/dev/null"
check "kernel log says why" sh -c "dmesg | grep -q 'overlaps System RAM'"
check "unaligned range refused" sh -c \
	"! modprobe kram region=1M@$base init=0 2>/dev/null"
# The group's memmap=2M$0x3fe00000 also covers what the firmware keeps at
# the top of low RAM: memmap= makes it "Reserved" like the rest.
for e in /sys/firmware/memmap/*; do
	echo "# firmware map: $(cat "$e/start")-$(cat "$e/end") $(cat "$e/type")"
done 2>/dev/null
check "the group reserved 2M at 0x3fe00000 (memmap=)" grep -q 'memmap=2M\$0x3fe00000' /proc/cmdline
check "range holding firmware memory refused" sh -c \
	"! modprobe kram region=2M@0x3fe00000 init=1 2>/dev/null"
check "kernel log names the firmware range" sh -c \
	"dmesg | grep -q 'refused: includes firmware memory'"
check "bad region= syntax refused" sh -c \
	"! modprobe kram region=banana init=0 2>/dev/null"

# No region=: the superblock is found by scanning reserved ranges.
check "modprobe kram without region= (scan)" modprobe kram region= init=0
check "scan found the region" [ "$(cat $KRAM_SYS/region)" = "$base $size" ]
check "attached after the corruption was undone" [ "$(cat $KRAM_SYS/state)" = attached ]
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -c /dev/kram_areas/keep ] && break; sleep 0.1; done
check "area bytes intact" same_area keep 16 $d
check "delete area 'keep'" hvkitctl kram delete keep
check "modprobe -r kram" modprobe -r kram
check "modprobe kram (group options)" modprobe kram
exit $rc

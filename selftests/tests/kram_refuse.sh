#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# kram recovers a damaged superblock from its other copy (also with
# init=1, which must never format a region that holds a kram), refuses
# what it must and changes nothing when it does: both superblock copies
# damaged, a range overlapping System RAM, an unaligned range; after the
# corruption is undone the region attaches with every byte. Without
# region= it finds its region by scanning. A new area is zero-filled.
# shellcheck source=selftests/tests/kram_lib.sh
. /hvkit/tests/kram_lib
# shellcheck source=selftests/tests/trace_lib.sh
. /hvkit/tests/trace_lib
echo "TAP version 13"
kram_need_region
d=/tmp/kram_refuse
rm -rf $d && mkdir -p $d
read -r base size <$KRAM_SYS/region
check "create area 'keep' and fill it" sh -c \
	". /hvkit/tests/kram_lib; hvkitctl kram create keep 16p && sleep 0.5 && fill_area keep 16 $d"

# rd ADDR: the 8 bytes at ADDR as a decimal number (kram must be
# unloaded: it holds its region exclusively); "error" if devmem fails.
rd() { _v=$(devmem "$1" 8) && printf %d "$_v" || echo error; }
if [ -e /dev/mem ]; then
	check "modprobe -r kram" modprobe -r kram
	# Two superblock copies: the primary at the region's start, the
	# backup in its last page. One bit of the primary's region_size
	# (offset 0x10): recovered from the backup, the area intact.
	addr=$((base + 0x10)) baddr=$((base + size - 4096 + 0x10))
	orig=$(rd $addr)
	devmem $addr 8 $((orig ^ 1))
	dmesg -c >/dev/null
	check "one bit of the superblock flipped: kram attaches" modprobe kram
	dmesg | grep kram | sed 's/^/# /'
	check "the log says it recovered the superblock from its other copy" \
		sh -c "dmesg | grep -q 'recovered the superblock from its other copy'"
	for _ in 1 2 3 4 5 6 7 8 9 10; do [ -c /dev/kram_areas/keep ] && break; sleep 0.1; done
	check "area bytes intact after the recovery" same_area keep 16 $d
	check "modprobe -r kram" modprobe -r kram
	check "the primary superblock was rewritten" [ "$(rd $addr)" = "$orig" ]
	# One changed byte of the magic, and init=1 (the group's option):
	# once this formatted the whole region.
	m=$(rd $base)
	devmem $base 8 $((m ^ 0xff00))
	dmesg -c >/dev/null
	check "one byte of the magic changed, init=1: kram attaches" modprobe kram init=1
	check "it did not format" sh -c "! dmesg | grep -q formatting"
	for _ in 1 2 3 4 5 6 7 8 9 10; do [ -c /dev/kram_areas/keep ] && break; sleep 0.1; done
	check "area bytes intact (init=1 kept them)" same_area keep 16 $d
	check "modprobe -r kram" modprobe -r kram
	check "the magic was rewritten" [ "$(rd $base)" = "$m" ]
	# Both copies damaged: refused, nothing written.
	borig=$(rd $baddr)
	devmem $addr 8 $((orig ^ 1))
	devmem $baddr 8 $((borig ^ 1))
	dmesg -c >/dev/null
	if modprobe kram init=1 2>$d/err; then
		nok "both superblock copies damaged: refused"
		modprobe -r kram
	else
		ok "both superblock copies damaged: refused: $(tr '\n' ' ' <$d/err)"
	fi
	dmesg | grep kram | sed 's/^/# /'
	check "kernel log names the reason" sh -c "dmesg | grep -q 'refused: both superblock copies are damaged'"
	check "the corrupt bytes are still there (nothing was rewritten)" \
		[ "$(rd $addr)/$(rd $baddr)" = "$((orig ^ 1))/$((borig ^ 1))" ]
	# Found by scanning, the same region is refused and kram stays
	# loaded. With trace_init=1 kram enables its own events before it
	# attaches: the refusal is a trace event (trace_mount first: it turns
	# record-cmd off, see trace_lib).
	trace_mount
	echo 0 >$TR/events/kram/enable
	: >$TR/trace
	check "both copies damaged, found by scanning, trace_init=1: refused, kram stays loaded" \
		sh -c "modprobe kram region= init=0 trace_init=1 && [ \"\$(cat $KRAM_SYS/state)\" = refused ]"
	trace_show kram_refuse
	check "trace_init=1 enabled kram_refuse" [ "$(cat $TR/events/kram/kram_refuse/enable)" = 1 ]
	check "kram_refuse: base=$(printf %#x "$base") size=$(printf %#x "$size"), err, why: both copies damaged" \
		trace_has kram_refuse "base=$(printf %#x "$base") size=$(printf %#x "$size") err=-[0-9]+ why=both superblock copies are damaged"
	check "no kram_attach event" sh -c "! grep -q ' kram_attach:' $TR/trace"
	echo 0 >$TR/events/kram/enable
	check "modprobe -r kram (refused)" modprobe -r kram
	devmem $addr 8 "$orig"
	devmem $baddr 8 "$borig"
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
# A new area on the pages of a deleted one holds zeroes, not its bytes.
check "create area 'z1' and fill it" sh -c \
	". /hvkit/tests/kram_lib; hvkitctl kram create z1 16p && sleep 0.5 && fill_area z1 16 $d"
check "delete area 'z1'" hvkitctl kram delete z1
check "create area 'z2' on the same pages" hvkitctl kram create z2 16p
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -c /dev/kram_areas/z2 ] && break; sleep 0.1; done
check "area 'z2' is all zeroes" sh -c \
	"cmp -s -n 65536 /dev/kram_areas/z2 /dev/zero"
check "delete area 'z2'" hvkitctl kram delete z2

# Pages held after their mapping and file are gone (as a VFIO DMA pin
# is): the area is not deleted and kram is not unloaded under them.
check "create area 'pinned' (16 pages)" hvkitctl kram create pinned 16p
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -c /dev/kram_areas/pinned ] && break; sleep 0.1; done
rm -f $d/pin.in && mkfifo $d/pin.in
dmesg -c >/dev/null
kram_pin pinned 16 <$d/pin.in >$d/pin.out 2>&1 &
pinpid=$!
exec 5>$d/pin.in
# Up to 60 s (typically well under 1 s): a starved VM only takes longer.
for _ in $(seq 600); do grep -q pinned $d/pin.out && break; sleep 0.1; done
check "kram_pin holds 16 pages, its mapping and file closed" grep -q '^pinned' $d/pin.out
check "kram says it stays loaded while pages are held" sh -c \
	"dmesg | grep -q \"area 'pinned': 16 pages still mapped or pinned\""
check "delete of the held area refused" sh -c "! hvkitctl kram delete pinned 2>/dev/null"
check "the log names the held pages" sh -c \
	"dmesg | grep -q \"area 'pinned' not deleted: 16 pages still mapped or pinned\""
check "modprobe -r kram refused while pages are held" sh -c "! modprobe -r kram 2>/dev/null"
check "kram still attached" [ "$(cat $KRAM_SYS/state)" = attached ]
echo >&5
exec 5>&-
wait $pinpid
check "kram_pin let go" grep -q '^unpinned' $d/pin.out
# kram looks again every second: up to 60 s.
for _ in $(seq 300); do dmesg | grep -q 'no area page is mapped or pinned any more' && break; sleep 0.2; done
check "kram drops its hold once the pages are released" sh -c \
	"dmesg | grep -q 'no area page is mapped or pinned any more'"
check "delete area 'pinned' now" hvkitctl kram delete pinned
check "modprobe -r kram" modprobe -r kram
check "modprobe kram (group options)" modprobe kram
exit $rc

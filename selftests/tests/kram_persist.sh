#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# kram keeps every byte of an area and of tagged pool pages across
# "modprobe -r kram; modprobe kram", and the generation counts the attach.
# shellcheck source=selftests/tests/kram_lib.sh
. /hvkit/tests/kram_lib
echo "TAP version 13"
kram_need_region
d=/tmp/kram_persist
rm -rf $d && mkdir -p $d
tag=0x80000042
gen=$(cat $KRAM_SYS/generation)
boots=$(cat $KRAM_SYS/boot_count)
free0=$(cat $KRAM_SYS/free_pages)

# The group's first load met a fresh (zeroed) region with init=1: kram
# formats only a region with no copy of a superblock, and says so.
check "the first load formatted the fresh region and said so" sh -c \
	"dmesg | grep -q 'init=1 and no copy of a kram superblock anywhere in the region: formatting'"
check "create area 'persist' (64 pages, version persist/1)" \
	hvkitctl kram create persist 64p --version persist/1
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -c /dev/kram_areas/persist ] && break; sleep 0.1; done
check "fill the area with random bytes" fill_area persist 64 $d
check "allocate and fill 32 pool pages with tag $tag" fill_pool $tag 32 $d
check "free pages down by 96" [ "$(cat $KRAM_SYS/free_pages)" = $((free0 - 96)) ]
dbg=/sys/kernel/debug/kram
sed 's/^/# /' $dbg/status
check "debugfs status: generation and pool pages" sh -c \
	"grep -q '^generation: $gen$' $dbg/status && grep -q 'pool 32, areas 64' $dbg/status"
check "debugfs areas lists 'persist' with its version" sh -c \
	"grep -q \" persist 'persist/1' [0-9]* 64 \" $dbg/areas"
check "debugfs tags counts 32 pages of $tag" sh -c "grep -qx '$tag 32' $dbg/tags"
check "sysfs: 1 area of 64 pages, 32 pool pages" sh -c \
	"[ \$(cat $KRAM_SYS/areas) = 1 ] && [ \$(cat $KRAM_SYS/area_pages) = 64 ] && [ \$(cat $KRAM_SYS/dynamic_pages) = 32 ]"
# /dev/mem (Debian's kernel and the debug kernel have it) reads the BIOS
# area below 1 MiB, so devmem works here; the region kram holds it cannot.
read -r base _ <$KRAM_SYS/region
check "devmem reads the BIOS area (0xf0000): /dev/mem works" devmem 0xf0000 32
check "/dev/mem cannot read the region while kram holds it" sh -c \
	"! devmem $base 32 2>$d/devmem.err"
sed 's/^/# devmem of the region: /' $d/devmem.err

check "modprobe -r kram" modprobe -r kram
check "modprobe kram" modprobe kram
check "attached again" [ "$(cat $KRAM_SYS/state)" = attached ]
check "generation $gen -> $((gen + 1))" [ "$(cat $KRAM_SYS/generation)" = $((gen + 1)) ]
check "boot_count stays $boots: a reload is not a boot" [ "$(cat $KRAM_SYS/boot_count)" = "$boots" ]
hvkitctl kram areas | sed 's/^/# /'
check "area 'persist' listed with its version" sh -c \
	"hvkitctl kram areas | grep -q '^persist *persist/1 *64 '"
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -c /dev/kram_areas/persist ] && break; sleep 0.1; done
check "area bytes identical after reload" same_area persist 64 $d
check "pool pages of $tag identical after reload" same_pool $tag $d

check "free every page of $tag" hvkitctl kram free --tag $tag --all
check "delete area 'persist'" hvkitctl kram delete persist
check "free pages back to $free0" [ "$(cat $KRAM_SYS/free_pages)" = "$free0" ]
exit $rc

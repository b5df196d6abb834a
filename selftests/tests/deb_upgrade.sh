#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A package upgrade on a host with a kram region attached: kram as the
# previous package's DKMS built it (/hvkit/prev, copied in by the group's
# PREV_KOS) holds areas and tagged pool pages; "modprobe -r kram" and
# "modprobe kram" of the current package's build (lib/modules/.../updates)
# keep every area, every page and every byte, and the version changes.
# shellcheck source=selftests/tests/kram_lib.sh
. /hvkit/tests/kram_lib
echo "TAP version 13"
d=/tmp/deb_upgrade
rm -rf $d && mkdir -p $d
prev=/hvkit/prev
opts=$(sed -n 's/^options kram //p' /etc/modprobe.d/hvkit.conf)
[ -f $prev/kram.ko ] || { echo "not ok 1 no previous build's kram.ko in $prev"; exit 1; }
[ -n "$opts" ] || { echo "not ok 1 no kram options in /etc/modprobe.d/hvkit.conf"; exit 1; }
cur=$(modinfo -F version kram)
tag=0x80000077

check "insmod the previous build's kram ($opts)" insmod $prev/kram.ko $opts
kram_need_region
pver=$(cat /sys/module/kram/version)
echo "# previous kram $pver, current build $cur"
check "the previous build is another version ($pver != $cur)" [ "$pver" != "$cur" ]
gen=$(cat $KRAM_SYS/generation)
boots=$(cat $KRAM_SYS/boot_count)
check "create area 'vm1-ram' (256 pages)" hvkitctl kram create vm1-ram 256p --version qemu/7.2
check "create area 'vm1-state' (8 pages)" hvkitctl kram create vm1-state 8p --version state/1
for _ in 1 2 3 4 5 6 7 8 9 10; do
	[ -c /dev/kram_areas/vm1-ram ] && [ -c /dev/kram_areas/vm1-state ] && break
	sleep 0.1
done
check "fill both areas with random bytes" sh -c \
	". /hvkit/tests/kram_lib; fill_area vm1-ram 256 $d && fill_area vm1-state 8 $d"
check "allocate and fill 16 pool pages with tag $tag" fill_pool $tag 16 $d
hvkitctl kram areas >$d/areas.before
sed 's/^/# before: /' $d/areas.before

check "modprobe -r kram (the previous build)" modprobe -r kram
check "modprobe kram (the current build, options from modprobe.d)" modprobe kram
check "kram $cur is loaded" [ "$(cat /sys/module/kram/version)" = "$cur" ]
check "attached again" [ "$(cat $KRAM_SYS/state)" = attached ]
check "generation $gen -> $((gen + 1)), boot_count stays $boots" sh -c \
	"[ \$(cat $KRAM_SYS/generation) = $((gen + 1)) ] && [ \$(cat $KRAM_SYS/boot_count) = $boots ]"
hvkitctl kram areas >$d/areas.after
sed 's/^/# after: /' $d/areas.after
check "the same areas, sizes and versions" cmp $d/areas.before $d/areas.after
for _ in 1 2 3 4 5 6 7 8 9 10; do
	[ -c /dev/kram_areas/vm1-ram ] && [ -c /dev/kram_areas/vm1-state ] && break
	sleep 0.1
done
check "area 'vm1-ram': every byte kept" same_area vm1-ram 256 $d
check "area 'vm1-state': every byte kept" same_area vm1-state 8 $d
check "pool pages of $tag: the same pages, every byte kept" same_pool $tag $d

# And back: a downgrade to the previous build keeps them too.
check "modprobe -r kram (the current build)" modprobe -r kram
check "insmod the previous build's kram again (a downgrade)" insmod $prev/kram.ko $opts
check "area 'vm1-ram' kept across the downgrade" same_area vm1-ram 256 $d
check "free every page of $tag, delete both areas" sh -c \
	"hvkitctl kram free --tag $tag --all && hvkitctl kram delete vm1-ram && hvkitctl kram delete vm1-state"
check "rmmod kram" rmmod kram
exit $rc

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# kram benchmarks (selftests/run.sh bench); table lines start with "| ".
#   kram_bench          alloc/free cost vs the page allocator (bench module),
#                       map + first touch of an area vs anonymous memory and
#                       a memfd (kram_mapbench), attach time vs region size
#                       and pool pages (reloads)
#   kram_bench stage1   prepare a 1 GiB region with 10000 pool pages ...
#   kram_bench stage2   ... and report the attach time after a real kexec
# Figures are measured, never judged: the test fails only when something
# does not work (a load fails, pages are not conserved).
# shellcheck source=selftests/tests/kram_lib.sh
. /hvkit/tests/kram_lib
echo "TAP version 13"
kram_need_region
stage=${1:-}
read -r base _ <$KRAM_SYS/region
tag=0x80000100
sizes=${KRAM_BENCH_SIZES:-64 256 1024}
reloads=${KRAM_BENCH_RELOADS:-5}
map_sizes="64 512" map_rounds=5
# make check (BENCH_QUICK, lib/vm.sh): fewer rounds; it shows that the
# benchmark runs, make bench gives the figures.
modargs=
if [ "${BENCH_QUICK:-no}" = yes ]; then
	reloads=3 modargs="rounds=3" map_sizes="64 256" map_rounds=3
	echo "| make check's quick run (3 rounds, 3 reloads, beside other VMs): figures come from make bench"
fi

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
us() { awk -v n="$1" 'BEGIN { printf "%.1f", n / 1000 }'; }

# attach_point MIB PAGES: fresh region of MIB, PAGES allocated, then the
# median attach figures over $reloads reloads: "<metadata ns> <memmap ns>".
attach_point() {
	modprobe -r kram || return 1
	modprobe kram region="$1M@$base" reformat=1 init=0 || return 1
	if [ "$2" -gt 0 ]; then
		hvkitctl kram alloc --tag $tag --count "$2" >/dev/null || return 1
	fi
	: >/tmp/attach
	i=0
	while [ $i -lt "$reloads" ]; do
		modprobe -r kram && modprobe kram region="$1M@$base" init=0 || return 1
		echo "$(cat $KRAM_SYS/attach_ns) $(cat $KRAM_SYS/memmap_ns)" >>/tmp/attach
		i=$((i + 1))
	done
	[ "$(cat $KRAM_SYS/dynamic_pages)" = "$2" ] || return 1
	echo "$(cut -d' ' -f1 /tmp/attach | median) $(cut -d' ' -f2 /tmp/attach | median)"
}

case "$stage" in
"")
	for b in 1 64; do
		dmesg -c >/dev/null
		# The module runs at load, prints its table, then idles.
		insmod "/lib/modules/$(uname -r)/updates/kram_bench.ko" batch=$b $modargs 2>/dev/null &&
			rmmod kram_bench
		dmesg | sed -n 's/.*kram_bench: | */| /p'
		if dmesg | grep -q 'kram_bench: | pool pages before'; then
			ok "alloc/free benchmark, batch $b"
		else
			nok "alloc/free benchmark, batch $b: $(dmesg | grep kram_bench | tail -n 2)"
		fi
	done
	for mib in $map_sizes; do
		kram_mapbench "$mib" $map_rounds >/tmp/mapbench 2>&1
		r=$?
		grep '^| ' /tmp/mapbench
		check "map + first touch of $mib MiB: $(grep -v '^| ' /tmp/mapbench | tail -n 1)" [ $r = 0 ]
	done
	echo "| attach time (median of $reloads reloads; metadata = superblock, area table, bitmap pass)"
	echo "| region | pool pages | metadata attach | struct pages (memremap_pages) |"
	for mib in $sizes; do
		for n in 0 10000; do
			r=$(attach_point "$mib" $n) || { nok "attach $mib MiB with $n pages"; continue; }
			set -- $r
			echo "| $mib MiB | $n | $(us "$1") us | $(us "$2") us |"
			ok "attach $mib MiB with $n pool pages"
		done
	done
	# Leave the region as the group's options describe it, empty.
	hvkitctl kram free --tag $tag --all >/dev/null
	modprobe -r kram && modprobe kram
	check "reloaded with the group's options" [ "$(cat $KRAM_SYS/state)" = attached ]
	;;
stage1)
	modprobe -r kram && modprobe kram region=1024M@$base reformat=1 init=0 &&
		hvkitctl kram alloc --tag $tag --count 10000 >/dev/null
	check "1 GiB region with 10000 pool pages before kexec" \
		[ "$(cat $KRAM_SYS/dynamic_pages)" = 10000 ]
	;;
stage2)
	check "10000 pool pages after kexec" [ "$(cat $KRAM_SYS/dynamic_pages)" = 10000 ]
	echo "| attach after a real kexec, 1 GiB region, 10000 pool pages (first attach of the boot):"
	echo "| metadata attach $(us "$(cat $KRAM_SYS/attach_ns)") us, struct pages $(us "$(cat $KRAM_SYS/memmap_ns)") us"
	hvkitctl kram free --tag $tag --all >/dev/null
	check "freed" [ "$(cat $KRAM_SYS/dynamic_pages)" = 0 ]
	;;
esac
exit $rc

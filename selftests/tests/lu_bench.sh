#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Live update benchmark, L1 side (group bench-liveupdate; run as
# lu_bench MODE MiB stage1|stage2 by its wrappers lu_bench_{h,m}{512,1024}):
# a running L2 of MiB MiB through a real kexec of L1, four times in one
# run of the group, side by side:
#   hvkit     L2's RAM is a kram area (a shared file backend): hvkitctl
#             liveupdate check and save (x-ignore-shared: the RAM is not in
#             the stream) into the area lu-state, kexec, hvkitctl
#             liveupdate restore;
#   mainline  what stock QEMU and Linux offer without hvkit: L2's RAM is
#             QEMU's own, "migrate" writes the whole VM, RAM included, into
#             the kram area lu-file (the fastest storage that survives the
#             kexec here: a best case for the baseline), kexec, restore
#             with "migrate_incoming" from it.
# L2 (lu_bench_l2) fills half its RAM with non-zero bytes before its mark
# and measures the blackout it sees (its RTC against its monotonic clock).
# The blackout is split: stop and in-flight check, hvkitctl liveupdate
# check (hvkit only; save repeats the VM's checks), save (QEMU gone),
# stage1's end to the new kernel's start (L1's test harness repacks its
# root file system and kexecs: the platform's part), the new kernel's boot
# and PID 1 up to this test, QEMU's start to its monitor, load and resume.
# Parts within one boot come from L1's uptime (10 ms); those across the
# kexec from its wall clock (whole seconds: the RTC). The last stage
# prints the table of all rounds. Figures, not judged: a check fails only
# when a round did not run.
# shellcheck source=selftests/tests/kram_lib.sh
. /hvkit/tests/kram_lib
LU=/hvkit/lu
mode=$1 mib=$2
export L2_OUT=$LU/l2 L2_MARK_HOOK=/hvkit/tests/liveupdate_hook LU_MODE=$mode L2_MEM_MB=$mib
res=$LU/bench.$mode.$mib
echo "TAP version 13"
kram_need_region
l2() {
	if [ "$mode" = hvkit ]; then
		hvkit-l2 -m pc -- -object "memory-backend-file,id=kram,size=${mib}M,mem-path=/dev/kram_areas/l2ram,share=on,align=2M" \
			-machine memory-backend=kram
	else
		hvkit-l2 -m pc
	fi
}
# field NAME: the value of NAME in this round's results.
field() { sed -n "s/^$1 //p" "$2" 2>/dev/null; }
case "$3" in
stage1)
	mkdir -p "$LU"
	if [ "$mode" = hvkit ]; then
		check "create area l2ram ($mib MiB, L2's RAM) and lu-state (16 MiB)" sh -c \
			"hvkitctl kram create l2ram ${mib}M && hvkitctl kram create lu-state 16M"
		for _ in $(seq 20); do [ -c /dev/kram_areas/lu-state ] && break; usleep 100000; done
	else
		check "create area lu-file ($((mib + 64)) MiB) for L2's whole state" \
			hvkitctl kram create lu-file "$((mib + 64))M"
		for _ in $(seq 20); do [ -c /dev/kram_areas/lu-file ] && break; usleep 100000; done
	fi
	[ $rc = 0 ] || exit 1
	# kvm_exit for the hook's in-flight check (see liveupdate.sh).
	lui=/sys/kernel/debug/tracing/instances/hvkit-lu
	check "trace instance hvkit-lu records kvm_exit" sh -c \
		"echo 0 >/sys/kernel/debug/tracing/options/record-cmd && mkdir -p $lui &&
		echo 1 >$lui/events/kvm/kvm_exit/enable"
	l2
	l2rc=$?
	sed 's/^/# save: /' "$LU/save.log" 2>/dev/null
	check "$mode, $mib MiB: L2 saved at its mark and handed over (hvkit-l2 exit $l2rc, 3 = handed over)" \
		[ $l2rc = 3 ]
	read -r u0 uc ub u1 <"$LU/save.times"
	{
		echo "stop_real $(cat "$LU/stop")"
		echo "$u0 $uc $ub $u1" |
			awk '{ printf "stop %.2f\ncheck %.2f\nsave %.2f\n", $2 - $1, $3 - $2, $4 - $3 }'
		[ "$mode" = hvkit ] && sed -n 's/^QEMU: total time \([0-9]*\) ms, .* RAM sent \([0-9]*\) KiB/qemu_save_ms \1\nstream_kb \2/p' "$LU/save.log"
		[ "$mode" = mainline ] && tr -d '\r' <"$LU/save.log" |
			sed -n 's/^total time: \([0-9]*\) ms.*/qemu_save_ms \1/p; s/^transferred ram: \([0-9]*\) kbytes.*/stream_kb \1/p'
	} >"$res"
	# The harness repacks L1's root and kexecs after this line.
	echo "stage1_end_real $(date +%s)" >>"$res"
	sed 's/^/# /' "$res"
	exit $rc
	;;
stage2)
	read -r up _ </proc/uptime
	now=$(date +%s)
	echo "boot_real $(echo "$now $up" | awk '{ printf "%.0f", $1 - $2 }')" >>"$res"
	echo "boot_up $up" >>"$res"
	if [ "$mode" = hvkit ]; then
		L2_RESTORE="hvkitctl liveupdate restore --state lu-state --qmp" l2
	else
		L2_IGNORE_SHARED=off L2_INCOMING="exec:dd if=/dev/kram_areas/lu-file bs=1M 2>/dev/null" l2
	fi
	l2rc=$?
	check "$mode, $mib MiB: L2 restored after the kexec and finished (hvkit-l2 exit $l2rc)" [ $l2rc = 0 ]
	read -r qs ld <"$L2_OUT/restore.times"
	gap=$(tr -d '\r' <"$L2_OUT/results.txt" | sed -n 's/.*its RTC jumped \([0-9]*\) s ahead.*/\1/p' | tail -n 1)
	{
		echo "qemu_start $qs"
		echo "load $ld"
		echo "resumed_real $(cat "$L2_OUT/resumed")"
		echo "guest_gap ${gap:-?}"
	} >>"$res"
	sed 's/^/# /' "$res"
	if [ "$mode" = hvkit ]; then
		check "delete areas l2ram and lu-state" sh -c 'hvkitctl kram delete l2ram && hvkitctl kram delete lu-state'
	else
		check "delete area lu-file" hvkitctl kram delete lu-file
	fi
	[ "$mode$mib" = mainline1024 ] || exit $rc
	# The table: every round of this run.
	echo "# live update of a running VM through a kexec of its host (L1), nested TCG, one run"
	echo "# (s; * = whole seconds of L1's wall clock, across the kexec)"
	printf '# %-22s %9s %9s %9s %9s\n' "" "hvkit 512" "main 512" "hvkit 1G" "main 1G"
	for row in "stop + in-flight check:stop" "hvkitctl check:check" "save, QEMU gone:save" "  QEMU's own save (ms):qemu_save_ms" \
		"  RAM sent (KiB):stream_kb" "repack + kexec *:KEXEC" "boot + PID 1 to test:boot_up" \
		"QEMU start:qemu_start" "load + resume:load" "blackout, L1 *:TOTAL" "blackout, L2 sees *:guest_gap"; do
		label=${row%%:*} key=${row#*:}
		line=$(printf '%-22s' "$label")
		for r in hvkit.512 mainline.512 hvkit.1024 mainline.1024; do
			f=$LU/bench.$r
			case $key in
			KEXEC) v=$(($(field boot_real "$f") - $(field stage1_end_real "$f"))) ;;
			TOTAL) v=$(($(field resumed_real "$f") - $(field stop_real "$f"))) ;;
			*) v=$(field "$key" "$f") ;;
			esac
			line="$line $(printf '%9s' "${v:-?}")"
		done
		echo "# $line"
	done
	# save + restore, hvkit against mainline, and against the blackout.
	for s in 512 1024; do
		h=$LU/bench.hvkit.$s m=$LU/bench.mainline.$s
		echo "$(field save "$h") $(field load "$h") $(field save "$m") $(field load "$m") \
			$(($(field resumed_real "$h") - $(field stop_real "$h")))" |
			awk -v s="$s" '{ hs = $1 + $2; ms = $3 + $4
				printf "# %s MiB: save + load, hvkit %.2f s, mainline %.2f s (%.1fx); hvkit save + load = %.1f%% of its blackout (%d s)\n",
					s, hs, ms, (hs > 0 ? ms / hs : 0), ($5 > 0 ? 100 * hs / $5 : 0), $5 }'
	done
	exit $rc
	;;
*)
	echo "usage: lu_bench hvkit|mainline MiB stage1|stage2" >&2
	exit 2
	;;
esac

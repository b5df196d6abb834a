#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Live update, L1 side (group live-update; listed as "kexec:liveupdate"):
# a running VM (L2) lives through a kexec of its host (L1) with Debian's
# unmodified QEMU 7.2.
#   stage1: L2 boots with its RAM in the kram area l2ram (a shared
#           memory-backend-file). At L2's mark live-update@GPA the mark
#           hook (liveupdate_hook) stops L2 (again, while a vCPU may hold
#           an exception in flight: QEMU 7.2 would lose its error code),
#           saves its device and CPU state
#           (x-ignore-shared: not its RAM) into the kram area lu-state and
#           quits QEMU; PID 1 then kexecs L1 into the same kernel with the
#           same memmap=.
#   stage2: kram attached the region again: both areas are back. L1 writes
#           a mark into the page of L2's lu_token process (at GPA in
#           l2ram), a new QEMU with the same arguments loads the state from
#           lu-state and resumes L2, which must find its process, its page
#           with the mark, its memory and its boot intact (liveupdate_l2).
# The VM's downtime (stop to resume, L1's kexec included) is printed, in
# whole seconds of L1's wall clock.
# L2 has a passthrough device: QEMU's edu (1234:11e8) behind a root port
# of L1, bound to vfio_preserve and armed (no_user_reset), offered to QEMU
# with x-enable-migration=on: QEMU 7.2 saves it with the VM (vfio_preserve's
# migration token) and the new QEMU loads it onto the same device, bound
# from its kram record after the kexec. L2 fills the device's DMA buffer
# and liveness register before and reads them back by DMA after
# (liveupdate_l2, edu_dma); no reset of the device (ftrace), here.
# shellcheck source=selftests/tests/kram_lib.sh
. /hvkit/tests/kram_lib
# shellcheck source=selftests/tests/vfio_lib.sh
. /hvkit/tests/vfio_lib
LU=/hvkit/lu
mib=${L2_MEM:-256}
export L2_OUT=$LU/l2 L2_MARK_HOOK=/hvkit/tests/liveupdate_hook
echo "TAP version 13"
kram_need_region
l2() {
	hvkit-l2 -m pc -- -object "memory-backend-file,id=kram,size=${mib}M,mem-path=/dev/kram_areas/l2ram,share=on" \
		-machine memory-backend=kram -device "vfio-pci,host=$EDU,rombar=0,x-enable-migration=on"
}
# edu_dev: the BDF of L1's edu device.
edu_dev() {
	for _d in "$PCI"/*; do
		[ "$(cat "$_d/vendor")" = 0x1234 ] && [ "$(cat "$_d/device")" = 0x11e8 ] &&
			basename "$_d" && return 0
	done
	return 1
}
case "$1" in
stage1)
	mkdir -p "$LU"
	EDU=$(edu_dev) || { echo "not ok 1 L1's edu device (1234:11e8): not found"; exit 1; }
	echo "$EDU" >"$LU/edu"
	reset_trace_on
	check "bind L2's passthrough device $EDU (edu) to vfio_preserve, arm it (no_user_reset)" \
		sh -c "hvkitctl vfio bind $EDU && hvkitctl vfio preserve $EDU --no-user-reset"
	check "create area l2ram ($mib MiB) for L2's RAM" hvkitctl kram create l2ram "${mib}M" --version lu/ram
	check "create area lu-state (16 MiB) for L2's saved state" hvkitctl kram create lu-state 16M --version lu/state
	[ $rc = 0 ] || exit 1
	for _ in 1 2 3 4 5 6 7 8 9 10; do [ -c /dev/kram_areas/lu-state ] && break; sleep 0.1; done
	# Every kvm_exit of L1, for the hook's check that L2 is not saved
	# with an exception in flight (liveupdate_hook). Set up before L2
	# runs, never taken away: adding or removing a probe while a vCPU
	# runs the kvm_exit site patches it (lib/l2.sh).
	lui=/sys/kernel/debug/tracing/instances/hvkit-lu
	check "trace instance hvkit-lu records kvm_exit (the save's exception check)" sh -c \
		"echo 0 >/sys/kernel/debug/tracing/options/record-cmd && mkdir -p $lui &&
		echo 1 >$lui/events/kvm/kvm_exit/enable"
	l2
	l2rc=$?
	sed 's/^/# save: /' "$LU/save.log" 2>/dev/null
	check "L2 saved and handed over at its mark (hvkit-l2 exit $l2rc, 3 = handed over)" [ $l2rc = 3 ]
	check "$EDU: vfio_preserve handed QEMU its migration token (mig_saved $(status_field "$EDU" mig_saved))" \
		[ "$(status_field "$EDU" mig_saved)" = 1 ]
	check "no reset of $EDU from its bind to the save ($(reset_calls) reset calls)" [ "$(reset_calls)" = 0 ]
	reset_trace_off
	check "lu_token's page address kept for after the kexec ($(cat "$LU/gpa" 2>/dev/null))" \
		[ -s "$LU/gpa" ]
	# L2's whole RAM, as it was saved.
	read -r u0 _ </proc/uptime
	md5sum </dev/kram_areas/l2ram | cut -d' ' -f1 >"$LU/ram.md5"
	read -r u1 _ </proc/uptime
	echo "# L2's RAM (area l2ram): md5 $(cat "$LU/ram.md5") ($u0 -> $u1 s)"
	hvkitctl kram areas | sed 's/^/# /'
	exit $rc
	;;
stage2)
	grep -q 'hvkit.stage=2' /proc/cmdline && echo "# after the kexec: $(cat /proc/sys/kernel/random/boot_id)"
	hvkitctl kram areas | sed 's/^/# /'
	check "area l2ram (L2's RAM) back after the kexec" [ -c /dev/kram_areas/l2ram ]
	check "area lu-state (L2's saved state) back after the kexec" [ -c /dev/kram_areas/lu-state ]
	EDU=$(cat "$LU/edu")
	check "$EDU bound by vfio_preserve from its kram record (restored $(status_field "$EDU" restored))" \
		eval '[ "$(driver_of "$EDU")" = vfio_preserve ] && [ "$(status_field "$EDU" restored)" = 1 ]'
	gpa=$(cat "$LU/gpa" 2>/dev/null)
	sum=$(md5sum </dev/kram_areas/l2ram | cut -d' ' -f1)
	check "L2's RAM is byte for byte what was saved before the kexec (md5 $sum)" \
		[ "$sum" = "$(cat "$LU/ram.md5" 2>/dev/null)" ]
	# The mark goes into L2's memory while no QEMU runs: only the area
	# (the same physical pages as before the kexec) holds it. Only over
	# lu_token's own words: a wrong address must not corrupt L2.
	head=$(dd if=/dev/kram_areas/l2ram bs=1 skip=$((gpa)) count=14 2>/dev/null)
	check "lu_token's page at $gpa in area l2ram holds its token (got '$head')" \
		[ "$head" = HVKIT-LU-WAIT: ]
	[ "$head" = HVKIT-LU-WAIT: ] &&
		check "mark lu_token's page at $gpa in area l2ram" \
			eval 'printf HVKIT-LU-DONE: | dd of=/dev/kram_areas/l2ram bs=1 seek=$((gpa)) conv=notrunc 2>/dev/null'
	reset_trace_on
	L2_INCOMING="exec:cat /dev/kram_areas/lu-state" l2
	l2rc=$?
	check "$EDU: QEMU loaded its token onto the same device (restored/refused/unverified $(status_field "$EDU" mig_restored)/$(status_field "$EDU" mig_refused)/$(status_field "$EDU" mig_unverified))" \
		[ "$(status_field "$EDU" mig_restored)/$(status_field "$EDU" mig_refused)/$(status_field "$EDU" mig_unverified)" = 1/0/0 ]
	check "no reset of $EDU through the restore and L2's run ($(reset_calls) reset calls)" [ "$(reset_calls)" = 0 ]
	reset_trace_off
	t0=$(cat "$LU/stop" 2>/dev/null) t1=$(cat "$L2_OUT/resumed" 2>/dev/null)
	check "L2 restored from lu-state, resumed and finished its tests (hvkit-l2 exit $l2rc)" [ $l2rc = 0 ]
	check "VM downtime, stop to resume, L1's kexec and boot included: $((${t1:-0} - ${t0:-0})) s (L1's wall clock)" \
		eval '[ -n "$t0" ] && [ -n "$t1" ]'
	check "disarm and unbind $EDU" sh -c "hvkitctl vfio preserve $EDU off && hvkitctl vfio unbind $EDU"
	check "delete areas l2ram and lu-state" sh -c 'hvkitctl kram delete l2ram && hvkitctl kram delete lu-state'
	exit $rc
	;;
*)
	echo "usage: liveupdate stage1|stage2" >&2
	exit 2
	;;
esac

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Live update, L1 side (group live-update; listed as "kexec:liveupdate"):
# a running VM (L2) lives through a kexec of its host (L1) with Debian's
# unmodified QEMU 7.2.
#   stage1: L2 boots with its RAM in the kram area l2ram (a shared
#           memory-backend-file). At L2's mark live-update@GPA the mark
#           hook (liveupdate_hook) stops L2 (again, while a vCPU may hold
#           an exception in flight: QEMU 7.2 would lose its error code),
#           and the operator's tool, hvkitctl liveupdate check and save,
#           saves its device and CPU state over QMP
#           (x-ignore-shared: not its RAM) into the kram area lu-state and
#           quits QEMU. hvkitctl liveupdate kexec refuses a next command
#           line without kram's memmap= and loads one with it
#           (--load-only); PID 1 then kexecs L1 into the same kernel with
#           the same memmap=.
#   stage2: kram attached the region again: both areas are back. L1 writes
#           a mark into the page of L2's lu_token process (at GPA in
#           l2ram), a new QEMU with the same arguments loads the state from
#           lu-state and resumes L2, which must find its process, its page
#           with the mark, its memory and its boot intact (liveupdate_l2);
#           the load and resume are hvkitctl liveupdate restore's, into a
#           QEMU started with -S -incoming defer (round 2: restore --exec
#           starts that QEMU itself from the saved command line, after it
#           refused to while another QEMU held the socket). Then a second restore,
#           and live updates of a VM with RAM outside kram and of one with
#           a device not armed, are refused and leave those VMs running.
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
# L2's RAM: the group's L2_MEM, from hvkit-l2's settings.
mib=$(. /hvkit/l2/l2.env && echo "$L2_MEM")
export L2_OUT=$LU/l2 L2_MARK_HOOK=/hvkit/tests/liveupdate_hook
echo "TAP version 13"
kram_need_region
l2() {
	hvkit-l2 -m pc -- -object "memory-backend-file,id=kram,size=${mib}M,mem-path=/dev/kram_areas/l2ram,share=on,align=2M" \
		-machine memory-backend=kram -device "vfio-pci,host=$EDU,rombar=0,x-enable-migration=on"
}
# lu_refused NAME WHY PATTERN [QEMU-ARGS]: a small running VM (no kernel,
# its QMP at $LU/NAME.sock) whose live update must be refused with
# PATTERN in the tool's output, the VM still running afterwards and the
# state area untouched.
# shellcheck disable=SC2034 # pat and s0 are used in check's eval
lu_refused() {
	vm=$1 why=$2 pat=$3
	shift 3
	rm -f "$LU/$vm.sock"
	qemu-system-x86_64 -L /usr/share/qemu -enable-kvm -cpu host,-xsave -M pc -m 64 -nodefaults \
		-no-user-config -display none -bios /usr/share/qemu/qboot.rom \
		-qmp "unix:$LU/$vm.sock,server=on,wait=off" "$@" >"$LU/$vm.log" 2>&1 &
	vpid=$!
	for _ in $(seq 100); do [ -S "$LU/$vm.sock" ] && break; usleep 100000; done
	s0=$(md5sum </dev/kram_areas/lu-state)
	out=$(hvkitctl liveupdate save --qmp "$LU/$vm.sock" --state lu-state 2>&1)
	lrc=$?
	echo "$out" | sed "s/^/# save ($why): /"
	check "live update refused: $why (exit $lrc)" eval '[ $lrc = 1 ] && echo "$out" | grep -q "$pat"'
	st=$(hvkitctl liveupdate check --qmp "$LU/$vm.sock" --state lu-state 2>&1 | sed -n 's/.*VM status: \([a-z-]*\).*/\1/p')
	check "after the refusal ($why) the VM still runs (QMP status '$st') and lu-state is untouched" \
		eval '[ "$st" = running ] && kill -0 $vpid && [ "$(md5sum </dev/kram_areas/lu-state)" = "$s0" ]'
	kill $vpid
	wait $vpid 2>/dev/null
	sed 's/^/# qemu: /' "$LU/$vm.log"
}
# exec_refused: restore --exec starts no QEMU while one answers on the
# saved command line's QMP socket (L2's $L2_OUT/qmp.sock): a small VM
# holds it; the tool must refuse, the state stay unspent and that VM run.
# shellcheck disable=SC2034 # used in check's eval
exec_refused() {
	rm -f "$L2_OUT/qmp.sock"
	qemu-system-x86_64 -L /usr/share/qemu -enable-kvm -cpu host,-xsave -M pc -m 64 -nodefaults \
		-no-user-config -display none -bios /usr/share/qemu/qboot.rom \
		-qmp "unix:$L2_OUT/qmp.sock,server=on,wait=off" >"$LU/busy.log" 2>&1 &
	vpid=$!
	# Listening (flags __SO_ACCEPTCON in /proc/net/unix), not only bound;
	# never --exec without it: that would restore L2 here, for real.
	lis=no
	for _ in $(seq 100); do
		grep -q " 00010000 .* $L2_OUT/qmp.sock\$" /proc/net/unix && lis=yes && break
		usleep 100000
	done
	n0=$(pidof qemu-system-x86_64 | wc -w)
	out="(not run: the busy VM's socket never listened)" lrc=-
	if [ $lis = yes ]; then
		out=$(hvkitctl liveupdate restore --exec --state lu-state 2>&1)
		lrc=$?
	fi
	echo "$out" | sed 's/^/# restore --exec (socket busy): /'
	check "restore --exec refuses while a QEMU answers on the saved QMP socket, starts none (exit $lrc, QEMUs $n0 -> $(pidof qemu-system-x86_64 | wc -w))" \
		eval '[ $lrc = 1 ] && echo "$out" | grep -q "answers: a QEMU runs on it already" &&
		[ "$(pidof qemu-system-x86_64 | wc -w)" = "$n0" ] && kill -0 $vpid &&
		hvkitctl liveupdate show --state lu-state | grep -q "^state: *saved, not restored"'
	kill $vpid
	wait $vpid 2>/dev/null
	rm -f "$L2_OUT/qmp.sock"
}
# edu_dev: the BDF of L1's edu device.
edu_dev() {
	for _d in "$PCI"/*; do
		[ "$(cat "$_d/vendor")" = 0x1234 ] && [ "$(cat "$_d/device")" = 0x11e8 ] &&
			basename "$_d" && return 0
	done
	return 1
}
# trace_exits: every kvm_exit of L1 in the trace instance hvkit-lu, for
# the hook's check that L2 is not saved with an exception in flight
# (liveupdate_hook). Set up before L2 runs, in each boot, never taken away:
# adding or removing a probe while a vCPU runs the kvm_exit site patches it
# (lib/l2.sh).
trace_exits() {
	lui=/sys/kernel/debug/tracing/instances/hvkit-lu
	check "trace instance hvkit-lu records kvm_exit (the save's exception check)" sh -c \
		"echo 0 >/sys/kernel/debug/tracing/options/record-cmd && mkdir -p $lui &&
		echo 1 >$lui/events/kvm/kvm_exit/enable"
}
# handed_over ROUND: L2 was saved at its mark and its QEMU quit (l2rc 3):
# the save's checks, and L2's RAM as it was saved.
handed_over() {
	sed 's/^/# save: /' "$LU/save.log" 2>/dev/null
	cp "$LU/stop" "$LU/stop.$1" 2>/dev/null
	check "round $1: L2 saved and handed over at its mark (hvkit-l2 exit $l2rc, 3 = handed over)" [ $l2rc = 3 ]
	check "round $1: $EDU: vfio_preserve handed QEMU its migration token (mig_saved $(status_field "$EDU" mig_saved))" \
		[ "$(status_field "$EDU" mig_saved)" = 1 ]
	check "round $1: no reset of $EDU up to the save ($(reset_calls) reset calls)" [ "$(reset_calls)" = 0 ]
	reset_trace_off
	check "round $1: lu_token's page address kept for after the kexec ($(cat "$LU/gpa" 2>/dev/null))" \
		[ -s "$LU/gpa" ]
	# The operator's tool (the hook ran its check and save).
	hvkitctl liveupdate show --state lu-state >"$LU/show" 2>&1
	sed 's/^/# show: /' "$LU/show"
	check "round $1: hvkitctl liveupdate show: lu-state holds a save of L2 (l2ram, $EDU)" sh -c \
		"grep -q '^state: *saved, not restored' $LU/show && grep -q 'in kram area l2ram, $mib MiB' $LU/show &&
		grep -q '^device: *$EDU' $LU/show && grep -q '^qemu: .*qemu-system-x86_64' $LU/show"
	read -r u0 _ </proc/uptime
	md5sum </dev/kram_areas/l2ram | cut -d' ' -f1 >"$LU/ram.md5"
	read -r u1 _ </proc/uptime
	echo "# L2's RAM (area l2ram): md5 $(cat "$LU/ram.md5") ($u0 -> $u1 s)"
	hvkitctl kram areas | sed 's/^/# /'
}
# restore ROUND: after the kexec: the areas and the device are back, L2's
# RAM is as saved; mark lu_token's page, restore L2 with the operator's
# tool and follow it (to its next hand-over, or its end).
restore() {
	echo "# round $1, after the kexec: boot_id $(cat /proc/sys/kernel/random/boot_id)"
	hvkitctl kram areas | sed 's/^/# /'
	check "round $1: areas l2ram (L2's RAM) and lu-state (its saved state) back after the kexec" \
		eval '[ -c /dev/kram_areas/l2ram ] && [ -c /dev/kram_areas/lu-state ]'
	EDU=$(cat "$LU/edu")
	check "round $1: $EDU bound by vfio_preserve from its kram record (restored $(status_field "$EDU" restored))" \
		eval '[ "$(driver_of "$EDU")" = vfio_preserve ] && [ "$(status_field "$EDU" restored)" = 1 ]'
	gpa=$(cat "$LU/gpa" 2>/dev/null)
	sum=$(md5sum </dev/kram_areas/l2ram | cut -d' ' -f1)
	check "round $1: L2's RAM is byte for byte what was saved before the kexec (md5 $sum)" \
		[ "$sum" = "$(cat "$LU/ram.md5" 2>/dev/null)" ]
	# The mark goes into L2's memory while no QEMU runs: only the area
	# (the same physical pages as before the kexec) holds it. Only over
	# lu_token's own words: a wrong address must not corrupt L2.
	head=$(dd if=/dev/kram_areas/l2ram bs=1 skip=$((gpa)) count=14 2>/dev/null)
	check "round $1: lu_token's page at $gpa in area l2ram holds its token (got '$head')" \
		[ "$head" = HVKIT-LU-WAIT: ]
	[ "$head" = HVKIT-LU-WAIT: ] &&
		check "round $1: mark lu_token's page at $gpa in area l2ram" \
			eval 'printf HVKIT-LU-DONE: | dd of=/dev/kram_areas/l2ram bs=1 seek=$((gpa)) conv=notrunc 2>/dev/null'
	trace_exits
	reset_trace_on
	rm -f "$L2_OUT/resumed"
	if [ "$1" = 1 ]; then
		# Round 1: into a QEMU started as an operator would by hand.
		L2_RESTORE="hvkitctl liveupdate restore --state lu-state --qmp" l2
		l2rc=$?
	else
		exec_refused
		# Round 2: the tool starts QEMU from the saved command line.
		L2_RESTORE_EXEC="hvkitctl liveupdate restore --exec --state lu-state --log $L2_OUT/qemu.log" l2
		l2rc=$?
		check "round 2: hvkitctl liveupdate restore --exec started L2's QEMU itself, from the saved command line with -incoming defer ($(grep -c '^starting QEMU[^:]*: .* -incoming defer' "$L2_OUT/restore.log") start line, PID '$(sed -n 's/^started QEMU, PID \([0-9]*\).*/\1/p' "$L2_OUT/restore.log")')" \
			eval 'grep "^starting QEMU[^:]*: qemu-system-x86_64 " "$L2_OUT/restore.log" | grep -q "vfio-pci,host=$EDU" &&
			grep "^starting QEMU[^:]*: " "$L2_OUT/restore.log" | grep -q " -incoming defer" &&
			grep -q "^started QEMU, PID [0-9]" "$L2_OUT/restore.log" && grep -q "^QEMU PID [0-9]* runs the VM" "$L2_OUT/restore.log"'
	fi
	check "round $1: $EDU: QEMU loaded its token onto the same device (restored/refused/unverified $(status_field "$EDU" mig_restored)/$(status_field "$EDU" mig_refused)/$(status_field "$EDU" mig_unverified))" \
		[ "$(status_field "$EDU" mig_restored)/$(status_field "$EDU" mig_refused)/$(status_field "$EDU" mig_unverified)" = 1/0/0 ]
	t0=$(cat "$LU/stop.$1" 2>/dev/null) t1=$(cat "$L2_OUT/resumed" 2>/dev/null)
	check "round $1: VM downtime, stop to resume, L1's kexec and boot included: $((${t1:-0} - ${t0:-0})) s (L1's wall clock)" \
		eval '[ -n "$t0" ] && [ -n "$t1" ]'
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
	trace_exits
	l2
	l2rc=$?
	handed_over 1
	next="$(cat /proc/cmdline)"
	# The platform's kvm_keeper (lib/init.sh) holds an idle VM: it may die.
	ign=
	kp=$(pidof kvm_keeper) && ign="--ignore-vm $kp"
	nomm=$(echo "$next" | sed 's/memmap=[^ ]*//g')
	out=$(hvkitctl liveupdate kexec --state lu-state --kernel /boot/vmlinuz --append "$nomm" $ign --load-only 2>&1)
	krc=$?
	echo "$out" | sed 's/^/# kexec without memmap=: /'
	check "hvkitctl liveupdate kexec refuses a command line without kram's memmap= (exit $krc, nothing loaded: kexec_loaded $(cat /sys/kernel/kexec_loaded))" \
		eval '[ $krc = 1 ] && [ "$(cat /sys/kernel/kexec_loaded)" = 0 ] &&
		echo "$out" | grep -q "FAIL  next command line has memmap=0x28000000\$0x40000000"'
	out=$(hvkitctl liveupdate kexec --state lu-state --kernel /boot/vmlinuz --append "$next" $ign --load-only 2>&1)
	krc=$?
	echo "$out" | sed 's/^/# kexec --load-only: /'
	check "hvkitctl liveupdate kexec --load-only loads the next kernel with kexec -s (exit $krc, kexec_loaded $(cat /sys/kernel/kexec_loaded))" \
		eval '[ $krc = 0 ] && [ "$(cat /sys/kernel/kexec_loaded)" = 1 ] && ! echo "$out" | grep -q FAIL'
	kexec -s -u
	exit $rc
	;;
stage2)
	# Round 1's restore; L2 runs on to its second live update.
	restore 1
	handed_over 2
	exit $rc
	;;
round2-stage1)
	# Nothing to do before the second kexec: L2 was saved in stage2.
	EDU=$(cat "$LU/edu")
	check "round 2: lu-state holds L2's second save before the second kexec" \
		sh -c "hvkitctl liveupdate show --state lu-state | grep -q '^state: *saved, not restored'"
	exit $rc
	;;
round2-stage2)
	restore 2
	check "round 2: L2 restored from lu-state, resumed and finished its tests (hvkit-l2 exit $l2rc)" [ $l2rc = 0 ]
	check "no reset of $EDU through the restore and L2's run to its end ($(reset_calls) reset calls)" \
		[ "$(reset_calls)" = 0 ]
	reset_trace_off
	hvkitctl liveupdate show --state lu-state >"$LU/show" 2>&1
	check "hvkitctl liveupdate show: lu-state restored (spent)" grep -q '^state: *restored (spent)' "$LU/show"
	out=$(hvkitctl liveupdate restore --qmp "$LU/none.sock" --state lu-state 2>&1)
	check "a second restore of lu-state is refused before QEMU is asked (exit $?: $out)" \
		eval 'echo "$out" | grep -q "restored (spent): nothing to restore"'
	# Refused live updates leave the VM running: a VM whose RAM is not
	# in kram (the machine's default RAM), then one with the device
	# not armed (its RAM in l2ram).
	lu_refused r1 "RAM outside kram" "FAIL  memory backend pc.ram (64 MiB) is not file-backed"
	check "disarm $EDU" hvkitctl vfio preserve "$EDU" off
	lu_refused r2 "$EDU not armed" "FAIL  $EDU (/machine/peripheral-anon/device\[0\]): vfio_preserve, not armed" \
		-object memory-backend-file,id=kram,size=64M,mem-path=/dev/kram_areas/l2ram,share=on \
		-machine memory-backend=kram -device "vfio-pci,host=$EDU,rombar=0,x-enable-migration=on"
	# That backend has QEMU's default align (the page size): noted, not refused.
	check "the tool notes a backend without align=2M (4 KiB mappings)" \
		eval 'echo "$out" | grep -q "^  note  memory backend kram: align=0 (not given: the page size): "'
	check "unbind $EDU" hvkitctl vfio unbind "$EDU"
	check "delete areas l2ram and lu-state" sh -c 'hvkitctl kram delete l2ram && hvkitctl kram delete lu-state'
	exit $rc
	;;
*)
	echo "usage: liveupdate stage1|stage2|round2-stage1|round2-stage2" >&2
	exit 2
	;;
esac

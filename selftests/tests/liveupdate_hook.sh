#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# hvkit-l2's mark hook of the live-update group (L1 side, run as
# "liveupdate_hook NAME" right after L1 saw L2's mark NAME):
#   live-update@GPA   stop L2 (with no exception in flight, below), then
#                     hvkitctl liveupdate check and save: its device and
#                     CPU state (not its RAM, which is the kram area l2ram:
#                     migration capability x-ignore-shared) go into the
#                     kram area lu-state, QEMU quits; L2 is handed over
#                     ($L2_OUT/handover). With LU_MODE=mainline, the
#                     whole VM, RAM included, into the kram area lu-file
#                     instead (bench-liveupdate). GPA,
#                     the guest-physical address of lu_token's page in L2,
#                     is kept in /hvkit/lu/gpa for after the kexec.
# Progress in /hvkit/lu/save.log; "date +%s" of the stop in /hvkit/lu/stop;
# the stop, in-flight check, save and quit times in /hvkit/lu/save.times.
LU=/hvkit/lu
out=${L2_OUT:?}
case "$1" in
live-update@0x*) ;;
*) exit 0 ;;
esac
echo "${1#live-update@}" >"$LU/gpa"
mon() { echo "$*" >"$out/mon.in"; }
# mon_last PREFIX: the value of the monitor's newest "PREFIX: value" line.
mon_last() { tr -d '\r' <"$out/monitor.log" | sed -n "s/^$1: //p" | tail -n 1; }
qpid=$(pidof qemu-system-x86_64 | awk '{ print $1 }')
# qemu_runs: QEMU's process still runs (an exited one stays a zombie until
# hvkit-l2, its parent, reaps it: kill -0 would still find it).
qemu_runs() {
	[ -r "/proc/$qpid/stat" ] && ! sed 's/.*) //' "/proc/$qpid/stat" 2>/dev/null | grep -q '^[ZX]'
}
# QEMU 7.2 saves a vCPU's pending or injected exception without its error
# code (target/i386/machine.c migrates exception_nr and has_error_code,
# not error_code): a VM stopped between KVM queueing a page fault for it
# and delivering it resumes with that fault's error code 0, a user-mode
# fault that its kernel takes for its own ("BUG: unable to handle page
# fault ... supervisor read access in user mode": cis30, 2026-12-03).
# KVM queues an exception only while handling an exit (or completing the
# MMIO/PIO emulation that exit began, at the next KVM_RUN), and delivers
# it at the next entry: a vCPU can hold one with an error code only if
# its last exit before the stop came during the delivery of such an
# exception (exit_int_info, requeued), or was one whose handler injects
# or emulates: an exception intercept, npf, io (string I/O), invpcid,
# avic_unaccelerated_access, and without decode assists the CR, DR and
# invlpg exits (read of 6.1's svm.c, x86.c, emulate.c). L1's trace instance
# hvkit-lu (liveupdate.sh) records every kvm_exit (never cleared: the
# newest exit of each vCPU is what counts, whenever it came); when a
# vCPU's last one is such an exit, L2 runs on for a moment and is stopped
# again.
lui=/sys/kernel/debug/tracing/instances/hvkit-lu
# last_exits: each vCPU's newest kvm_exit line in $lui/trace, as
# "N<tab>line" (one read of the buffer per stop: it is the VM's pause).
last_exits() {
	awk '/ kvm_exit: / {
		for (i = 1; i < NF; i++) if ($i == "vcpu") { last[$(i + 1)] = $0; break }
	}
	END { for (v in last) print v "\t" last[v] }' "$lui/trace"
}
# in_flight: of last_exits' lines on stdin, the vCPUs whose last exit may
# leave an exception with an error code queued ("vcpu N: reason ...
# intr_info ..." lines); empty when none.
in_flight() {
	while IFS="$(printf '\t')" read -r v line; do
		ii=$(echo "$line" | sed -n 's/.* intr_info \(0x[0-9a-f]*\).*/\1/p')
		ii=$((${ii:-0}))
		case "$line" in
		*" reason "*" excp rip "* | *" reason npf rip "* | *" reason io rip "* | \
			*" reason invpcid rip "* | *" reason avic_unaccelerated_access rip "* | \
			*" reason read_cr"* | *" reason write_cr"* | *" reason cr0_sel_write rip "* | \
			*" reason read_dr"* | *" reason write_dr"* | *" reason invlpg rip "*)
			echo "vcpu $v: ${line##*kvm_exit: }"
			;;
		*)
			# valid, type 3 (exception), error code valid
			[ $(((ii >> 31) & 1)) = 1 ] && [ $(((ii >> 8) & 7)) = 3 ] &&
				[ $(((ii >> 11) & 1)) = 1 ] && echo "vcpu $v: ${line##*kvm_exit: }"
			;;
		esac
	done
}
# stop_l2: "stop", then wait until the monitor says paused in an answer
# that came after the stop (an earlier "paused" must not count). Up to
# 300 looks, 0.1 s apart: a starved VM only takes longer.
stop_l2() {
	n0=$(grep -c '^VM status: ' "$out/monitor.log")
	mon stop
	for _ in $(seq 300); do
		mon "info status"
		usleep 100000
		[ "$(grep -c '^VM status: ' "$out/monitor.log")" -gt "$n0" ] &&
			mon_last 'VM status' | grep -q '^paused' &&
			return 0
	done
	return 1
}
{
	read -r u0 _ </proc/uptime
	[ "$(cat "$lui/events/kvm/kvm_exit/enable" 2>/dev/null)" = 1 ] ||
		{ echo "kvm_exit is not recorded in $lui (liveupdate.sh sets it up)"; exit 1; }
	stops=0
	while :; do
		stop_l2 || { echo "L2 did not pause"; exit 1; }
		stops=$((stops + 1))
		# The downtime counts from the first stop, the check included.
		[ $stops = 1 ] && date +%s >"$LU/stop"
		# A stop makes every running vCPU exit: no exit, no check.
		last=$(last_exits)
		[ -n "$last" ] || { echo "no kvm_exit in $lui: cannot tell"; exit 1; }
		f=$(echo "$last" | in_flight)
		[ -z "$f" ] && break
		echo "stop $stops: an exception may be in flight ($f): L2 runs on a moment"
		[ $stops -lt 20 ] || { echo "an exception in flight at each of $stops stops: not saved"; exit 1; }
		mon cont
		usleep 20000
	done
	read -r uc _ </proc/uptime
	echo "stopped with no exception in flight (stop $stops; $u0 -> $uc s, L1 uptime)"
	if [ "${LU_MODE:-hvkit}" = mainline ]; then
		# The mainline alternative (bench-liveupdate): the whole VM,
		# its RAM included, into the kram area lu-file, through QEMU's
		# monitor; then quit.
		read -r ub _ </proc/uptime
		mon 'migrate -d "exec:dd of=/dev/kram_areas/lu-file bs=1M conv=notrunc 2>/dev/null"'
		i=0 ms=
		while [ $i -lt 3000 ]; do
			mon "info migrate"
			usleep 100000
			ms=$(mon_last 'Migration status')
			case "$ms" in completed|failed|cancelled) break ;; esac
			i=$((i + 1))
		done
		tr -d '\r' <"$out/monitor.log" | grep -E '^(total time|downtime|transferred ram|total ram|Migration status)' |
			tail -n 5
		[ "$ms" = completed ] || { echo "save failed ($ms): not handed over"; exit 1; }
		mon quit
		i=0
		while [ -n "$qpid" ] && qemu_runs && [ $i -lt 300 ]; do
			usleep 20000
			i=$((i + 1))
		done
	else
		# The operator's tool from here: its checks, then the save (into
		# lu-state, after its header), then QEMU's quit. L2 is paused:
		# the tool saves it as it is and leaves it paused if anything
		# fails.
		hvkitctl liveupdate check --qmp "$out/qmp.sock" --state lu-state --append "$(cat /proc/cmdline)" ||
			{ echo "hvkitctl liveupdate check failed: not saved"; exit 1; }
		read -r ub _ </proc/uptime
		hvkitctl liveupdate save --qmp "$out/qmp.sock" --state lu-state ||
			{ echo "hvkitctl liveupdate save failed: not handed over"; exit 1; }
	fi
	read -r u1 _ </proc/uptime
	# First stop, stopped with no exception in flight, save begun, saved
	# and QEMU gone (L1 uptime, s).
	echo "$u0 $uc $ub $u1" >"$LU/save.times"
	echo "saved and quit at $u1 s (L1 uptime)"
	qemu_runs && { echo "QEMU $qpid still runs after the save"; exit 1; }
	echo "QEMU $qpid quit; L2 handed over"
	: >"$out/handover"
} >"$LU/save.log" 2>&1
rc=$?
cat "$LU/save.log"
exit $rc

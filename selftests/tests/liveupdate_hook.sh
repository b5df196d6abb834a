#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# hvkit-l2's mark hook of the live-update group (L1 side, run as
# "liveupdate_hook NAME" right after L1 saw L2's mark NAME):
#   live-update@GPA   stop L2, save its device and CPU state (not its RAM,
#                     which is the kram area l2ram: migration capability
#                     x-ignore-shared) into the kram area lu-state, quit
#                     its QEMU and hand L2 over ($L2_OUT/handover). GPA,
#                     the guest-physical address of lu_token's page in L2,
#                     is kept in /hvkit/lu/gpa for after the kexec.
# Progress in /hvkit/lu/save.log; "date +%s" of the stop in /hvkit/lu/stop.
LU=/hvkit/lu
out=${L2_OUT:?}
case "$1" in
live-update@0x*) ;;
*) exit 0 ;;
esac
echo "${1#live-update@}" >"$LU/gpa"
mon() { echo "$*" >"$out/mon.in"; }
# info_migrate: the last "Migration status:" line of the monitor, in $ms.
info_migrate() {
	mon "info migrate"
	usleep 200000
	ms=$(tr -d '\r' <"$out/monitor.log" | sed -n 's/^Migration status: //p' | tail -n 1)
}
qpid=$(pidof qemu-system-x86_64 | awk '{ print $1 }')
{
	read -r u0 _ </proc/uptime
	mon stop
	date +%s >"$LU/stop"
	mon "migrate_set_capability x-ignore-shared on"
	mon 'migrate -d "exec:cat >/dev/kram_areas/lu-state"'
	i=0 ms=
	while [ $i -lt 300 ]; do
		info_migrate
		case "$ms" in completed|failed|cancelled) break ;; esac
		i=$((i + 1))
	done
	read -r u1 _ </proc/uptime
	echo "migration status '$ms' after $u0 -> $u1 s (L1 uptime)"
	tr -d '\r' <"$out/monitor.log" | grep -E '^(total time|downtime|transferred ram|total ram|Migration status)' |
		tail -n 5
	[ "$ms" = completed ] || { echo "save failed: not handed over"; exit 1; }
	mon quit
	i=0
	while [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null && [ $i -lt 100 ]; do
		usleep 100000
		i=$((i + 1))
	done
	kill -0 "$qpid" 2>/dev/null && { echo "QEMU $qpid did not quit"; exit 1; }
	echo "QEMU $qpid quit; L2 handed over"
	: >"$out/handover"
} >"$LU/save.log" 2>&1
rc=$?
cat "$LU/save.log"
exit $rc

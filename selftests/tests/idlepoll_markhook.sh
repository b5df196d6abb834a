#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# hvkit-l2's mark hook of the guest_idlepoll nested test (L1 side, run as
# "idlepoll_markhook NAME" right after L1 snapshotted L2's mark NAME, see
# L2_MARK_HOOK in hvkit-l2):
#   steal-start   every thread of L2's QEMU (both vCPUs) on L1's CPU 0:
#                 a vCPU that wakes waits behind its busy sibling (steal
#                 time in L2); the affinity before is kept in
#                 /tmp/l2-affinity
#   steal-end     the affinity from before steal-start, on every thread
pid=$(pidof qemu-system-x86_64 | awk '{ print $1 }')
[ -n "$pid" ] || { echo "no qemu-system-x86_64"; exit 1; }
case "$1" in
steal-start)
	taskset -p "$pid" | sed 's/.*: *//' >/tmp/l2-affinity || exit 1
	taskset -a -p -c 0 "$pid" >/dev/null || exit 1
	;;
steal-end)
	mask=$(cat /tmp/l2-affinity 2>/dev/null)
	[ -n "$mask" ] || { echo "no /tmp/l2-affinity"; exit 1; }
	taskset -a -p "$mask" "$pid" >/dev/null || exit 1
	;;
*)
	exit 0
	;;
esac
for t in /proc/"$pid"/task/*; do
	echo "$1: thread ${t##*/} ($(cat "$t/comm")) $(grep Cpus_allowed_list "$t/status")"
done
exit 0

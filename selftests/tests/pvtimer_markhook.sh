#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# hvkit-l2's mark hook of the guest_pvtimer nested test and benchmark (L1
# side, run as "pvtimer_markhook NAME" right after L1 snapshotted L2's mark
# NAME, see L2_MARK_HOOK in hvkit-l2):
#   pvt-start, pvt-end, pvt-start-*, pvt-end-* (pvtimer_bench's runs)
#                       save "hvkitctl pvtimer status" in /tmp/status.NAME
#   kill-agent          SIGKILL the ivshmem server (pid in /tmp/serve.pid,
#                       written by pvtimer_nested): its attachment to
#                       pvtimer_agent goes with it, L2's timers must not.
#                       Saves the time (/proc/uptime) in /tmp/kill.time and
#                       the agent's status after the kill in
#                       /tmp/status.killed.
#   stall-agent         the agent thread skips its scans for 300 ms, once
#                       (pvtimer_agent's debugfs stall_ms: fault injection)
#   lapic-start         with PVT_PEER_OUT (nested-pvtimer-2vm: the other
#                       L2's hvkit-l2 directory), stop this L2 (its
#                       monitor in $L2_OUT) until the other L2 has reached
#                       the same mark, so that both run their timer loads
#                       at the same time (40 s at most, then go on)
# shellcheck source=selftests/tests/pvtimer_lib.sh
. /hvkit/tests/pvtimer_lib
case "$1" in
lapic-start)
	[ -n "${PVT_PEER_OUT:-}" ] || exit 0
	echo stop >"$L2_OUT/mon.in"
	# 40 s by L1's clock, well inside hvkit-l2's 60 s for a hook: this
	# L2 must never stay stopped (the other L2 may have died in boot).
	read -r t0 _ </proc/uptime
	t0=${t0%.*} t=$t0
	while [ $((t - t0)) -lt 40 ] && ! grep -q '^lapic-start ' "$PVT_PEER_OUT/marks" 2>/dev/null; do
		usleep 100000
		read -r t _ </proc/uptime
		t=${t%.*}
	done
	echo cont >"$L2_OUT/mon.in"
	echo "held $((t - t0)) s for $PVT_PEER_OUT's lapic-start"
	;;
stall-agent)
	echo 300 >/sys/kernel/debug/pvtimer_agent/stall_ms || exit 1
	echo "stalled=$(cut -d' ' -f1 /proc/uptime)"
	;;
pvt-start|pvt-end|pvt-start-*|pvt-end-*)
	hvkitctl pvtimer status >"/tmp/status.$1" 2>&1
	;;
kill-agent)
	pid=$(cat /tmp/serve.pid 2>/dev/null)
	[ -n "$pid" ] || { echo "no /tmp/serve.pid"; exit 1; }
	kill -KILL "$pid" || exit 1
	echo "killed=$(cut -d' ' -f1 /proc/uptime) pid=$pid" >/tmp/kill.time
	cat /tmp/kill.time
	# Gone once it is a zombie (its files, the agent's among them, are
	# closed by then) or reaped.
	i=0
	while [ $i -lt 50 ]; do
		st=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)
		case "$st" in
		""|Z|X) break ;;
		esac
		usleep 100000
		i=$((i + 1))
	done
	echo "server state after kill: '${st:-gone}' after $((i * 100)) ms"
	# The agent forgets a dead server's VM (its file was closed): give a
	# deferred release two seconds.
	pvt_wait_detached /tmp/status.killed 20
	cat /tmp/status.killed
	;;
esac
exit 0

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# In L2: the guest_idlepoll benchmark runs. The configurations to run come
# from the kernel command line (hvkit.ipbench=cfg,cfg,...):
#   hlt          no cpuidle driver: default idle (HLT)
#   adaptive     guest_idlepoll (adaptive policy, 2 states), parameters
#                scaled for nested TCG (tcg_scale in idlepoll_lib)
#   defaults     guest_idlepoll with its hardware defaults
#   haltpollrule guest_idlepoll policy=haltpoll, scaled
#   onestate     guest_idlepoll nr_states=1 (no governor), scaled
#   haltpolldrv  the kernel's haltpoll driver (boot: cpuidle_haltpoll.force=1)
#   idle_poll    idle=poll (boot)
# Every run of pingpong sits between two marks (L1 snapshots its KVM stats
# there) and prints "IPB cfg think rep rtt_median_ns poll_ns rounds".
# shellcheck source=selftests/tests/idlepoll_lib.sh
. /hvkit/tests/idlepoll_lib
ROUNDS=${IPB_ROUNDS:-200}
MARK_WAIT_US=500000
REPS=${IPB_REPS:-3}
THINKS=${IPB_THINKS:-0 1 20 50}
cfgs=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^hvkit.ipbench=//p' | tr ',' ' ')
echo "TAP version 13"
[ -n "$cfgs" ] || { echo "not ok 1 no hvkit.ipbench= on the command line"; exit 1; }

# Polling CPU time (ns) so far, by configuration.
polled() {
	case "$1" in
	adaptive|defaults|haltpollrule|onestate)
		hvkitctl idlepoll status | awk '
			NR == 2 { for (i = 1; i <= NF; i++) if ($i == "POLL_MS") c = i }
			NR > 2 && c { s += $c } END { printf "%.0f\n", s * 1000000 }' ;;
	haltpolldrv)
		s=0
		for c in 0 1; do
			s=$((s + $(cat $CPUSYS/cpu$c/cpuidle/state0/time) * 1000))
		done
		echo $s ;;
	*) echo 0 ;;
	esac
}

for cfg in $cfgs; do
	case "$cfg" in
	adaptive|defaults) modprobe guest_idlepoll ;;
	haltpollrule) modprobe guest_idlepoll policy=haltpoll ;;
	onestate) modprobe guest_idlepoll nr_states=1 ;;
	esac
	case "$cfg" in
	adaptive|haltpollrule|onestate) tcg_scale ;;
	esac
	case "$cfg" in
	hlt|idle_poll) want=none ;;
	haltpolldrv) want=haltpoll ;;
	*) want=guest_idlepoll ;;
	esac
	check "$cfg: cpuidle driver '$(driver)' is '$want'" [ "$(driver)" = "$want" ]
	echo "# $(date +%T) $cfg" >/dev/console
	for t in $THINKS; do
		r=1
		while [ $r -le "$REPS" ]; do
			mark "$cfg:$t:$r:s"
			p0=$(polled "$cfg")
			pingpong -n "$ROUNDS" -t "$t" >/tmp/pp || { echo "not ok pingpong failed"; rc=1; }
			p1=$(polled "$cfg")
			mark "$cfg:$t:$r:e"
			rtt=$(awk -F= '$1 == "rtt_median_ns" { print $2 }' /tmp/pp)
			if [ "$cfg" = idle_poll ]; then
				# idle=poll polls whenever a CPU is idle: 2 CPUs x wall - busy.
				p1=$(awk -F= '$1 == "wall_ns" { w = $2 } $1 == "cpu_ns" { c = $2 }
					END { printf "%d\n", (2 * w > c) ? 2 * w - c : 0 }' /tmp/pp)
				p0=0
			fi
			echo "IPB $cfg $t $r $rtt $((p1 - p0)) $ROUNDS"
			r=$((r + 1))
		done
	done
	case "$cfg" in
	adaptive|defaults|haltpollrule|onestate)
		hvkitctl idlepoll status | sed "s/^/# $cfg: /"
		check "$cfg: modprobe -r guest_idlepoll" modprobe -r guest_idlepoll ;;
	esac
done
exit $rc

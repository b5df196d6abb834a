#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A timer-wheel timer that an interrupt queues on a polling CPU fires on
# time (guest_idlepoll: a poll that runs out of its window returns to the
# idle loop, whose next pass sees the new timer, before the halt).
# idlepoll_wheel.ko (built with the modules, not installed by DKMS) queues
# one per round from a pinned hrtimer's callback on the last CPU, 6 ms
# into an idle period (the previous round's wheel timer starts the next
# round's hrtimer, so nothing else ends the CPU's idle period or restarts
# its tick); the window here is 10 ms (never shrunk), so the interrupt
# lands in guest_idlepoll's poll (the module checks where it landed). In
# both modes (nr_states 1 and 2). Before the fix, with nr_states=1, 12 of
# 19 such timers came 0.1-3.1 s late. In the debug suite's kunit group:
# the stock suite installs the Debian package, which has no test module.
# shellcheck source=selftests/tests/idlepoll_lib.sh
. /hvkit/tests/idlepoll_lib
echo "TAP version 13"
ko=/lib/modules/$(uname -r)/updates/idlepoll_wheel.ko
[ -f "$ko" ] || { echo "not ok 1 no $ko (the build's modules)"; exit 1; }
W=/sys/module/idlepoll_wheel/parameters
for ns in 1 2; do
	modprobe -r guest_idlepoll
	check "nr_states=$ns: guest_idlepoll with a 10 ms window" modprobe guest_idlepoll \
		nr_states=$ns policy=haltpoll max_poll_ns=10000000 \
		grow_start_ns=10000000 allow_shrink=0 steal_pct=0
	# Runs of 40 rounds until 5 interrupts landed in guest_idlepoll's
	# poll, at most 10 runs: where an interrupt lands is the governor's
	# choice and the host's timing (with 2 states the menu governor
	# picks the kernel's POLL state after a short idle period, and a
	# vCPU delayed by the host ends its poll window early). Every
	# round's wheel timer is judged, in every run.
	np=0 late=0 max=0 runs=0 ok=yes
	while [ $runs -lt 10 ] && [ $np -lt 5 ]; do
		runs=$((runs + 1))
		insmod "$ko" rounds=40 || { ok=no; break; }
		dmesg | grep 'idlepoll_wheel: ' | tail -n 41 | sed 's/^/# /'
		lim=$(cat $W/late_us)
		np=$((np + $(cat $W/in_poll))) late=$((late + $(cat $W/late)))
		m=$(cat $W/late_max_us)
		[ "$m" -gt "$max" ] && max=$m
		rmmod idlepoll_wheel || { ok=no; break; }
	done
	check "  insmod and rmmod idlepoll_wheel, $runs run(s) of 40 rounds" [ $ok = yes ]
	check "  the interrupt landed in guest_idlepoll's poll in at least 5 rounds ($np of $((runs * 40)))" \
		[ "$np" -ge 5 ]
	check "  every wheel timer queued there fired within $((${lim:-0} / 1000)) ms of its expiry ($late late, latest $max us)" \
		sh -c "[ $ok = yes ] && [ $late = 0 ]"
done
modprobe -r guest_idlepoll
check "guest_idlepoll back at its defaults" modprobe guest_idlepoll
exit $rc

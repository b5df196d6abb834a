#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# In L2 (a KVM guest of L1): the same ping-pong load without and with
# guest_idlepoll, each run between two marks at which L1 snapshots its KVM
# statistics for this VM (idlepoll_nested compares the halt exits).
# shellcheck source=selftests/tests/idlepoll_lib.sh
. /hvkit/tests/idlepoll_lib
# The debug suite's L2 (KASAN, lockdep; about 5 ms per round trip beside
# another VM) runs a tenth of the load, and duty runs of 2 s instead of 3:
# it looks for reports, not rates (its rates are printed, not judged). Its
# 200 round trips still enter idle about 500 times per run (1214 times
# in 500, CI of 2026-12-05).
if [ "${SUITE_KIND:-stock}" = debug ]; then
	ROUNDS=${IDLEPOLL_ROUNDS:-200}
	DUTY_S=2
else
	ROUNDS=${IDLEPOLL_ROUNDS:-2000}
	DUTY_S=3
fi
echo "TAP version 13"
if grep -q 'cpuidle_haltpoll.force=1' /proc/cmdline; then
	# The kernel's haltpoll driver owns cpuidle: the load must fail, naming it.
	check "haltpoll driver registered (got '$(driver)')" [ "$(driver)" = haltpoll ]
	# Its poll state is not under test. Twice on 2026-11-28 this L2 stopped
	# making progress right after the checks below while it polled in idle
	# under nested TCG; disable the poll state so its CPUs halt.
	for st in "$CPUSYS"/cpu*/cpuidle/state0; do
		[ "$(cat "$st/name")" = POLL ] && echo 1 >"$st/disable"
	done
	check "modprobe guest_idlepoll refused while haltpoll owns cpuidle" \
		sh -c '! modprobe guest_idlepoll 2>/dev/null'
	dmesg | grep 'guest_idlepoll:' | sed 's/^/# /'
	check "the refusal names the haltpoll driver" \
		sh -c "dmesg | grep -q \"guest_idlepoll: cpuidle driver 'haltpoll' already owns\""
	check "not loaded" [ ! -d /sys/module/guest_idlepoll ]
	exit $rc
fi
modprobe -r guest_idlepoll 2>/dev/null
check "no cpuidle driver without the module (got '$(driver)')" [ "$(driver)" = none ]

mark hlt-start
pingpong -n "$ROUNDS" -t 0 >/tmp/pp.hlt
mark hlt-end
sed 's/^/# HLT: /' /tmp/pp.hlt

check "modprobe guest_idlepoll" modprobe guest_idlepoll
check "current_driver is guest_idlepoll" [ "$(driver)" = guest_idlepoll ]
dmesg | grep 'guest_idlepoll: version' | sed 's/^/# /'
tcg_scale
# The haltpoll rule shrank its window after every halt longer than the
# cap (before shrink_after). In CI21 this L2 ran slower than usual,
# wakeups passed the scaled 2 ms cap, and the rule hit 1018 of 3772 polls
# (890 of 984 before): the same 10 ms cap as the L1 check (idlepoll_basic)
# keeps the rule, not the emulator's speed, under test.
hvkitctl idlepoll set max_poll_ns 10000000
hvkitctl idlepoll get | sed 's/^/# /'
hvkitctl idlepoll status --reset >/dev/null
mark ipoll-start
pingpong -n "$ROUNDS" -t 0 >/tmp/pp.ipoll
mark ipoll-end
sed 's/^/# idlepoll: /' /tmp/pp.ipoll
hvkitctl idlepoll status | sed 's/^/# /'
polls=$(ipstat POLLS) hits=$(ipstat HITS)
check "statistics moved (entries $(ipstat ENTRIES))" [ "$(ipstat ENTRIES)" -gt 0 ]
u0=$(state_usage 0 IDLEPOLL) u1=$(state_usage 1 IDLEPOLL)
check "IDLEPOLL state used on cpu0 ($u0) and cpu1 ($u1)" eval '[ "$u0" -gt 0 ] && [ "$u1" -gt 0 ]'
# The haltpoll rule shrank its window after every idle period longer than
# the cap and grew it back step by step: 60-80 % of its polls hit then.
# With shrink_after=4 (the default: only a run of long idles shrinks it)
# 87 % and 96 % in two runs. Most must.
figure "policy haltpoll: poll hit rate under ping-pong >= 50% ($hits of $polls)" \
	eval '[ "$polls" -gt 0 ] && [ $((hits * 2)) -ge "$polls" ]'

# The same load with hvkit's own predictor, which adapts on hits too.
hvkitctl idlepoll set policy adaptive
hvkitctl idlepoll status --reset >/dev/null
mark adaptive-start
pingpong -n "$ROUNDS" -t 0 >/tmp/pp.adaptive
mark adaptive-end
hvkitctl idlepoll status | sed 's/^/# adaptive: /'
polls=$(ipstat POLLS) hits=$(ipstat HITS)
# 71-90 % of its polls hit in today's runs; TCG's timing noise decides the
# rest, so the bar is the same majority as haltpoll's.
figure "policy adaptive: poll hit rate under ping-pong >= 50% ($hits of $polls)" \
	eval '[ "$polls" -gt 0 ] && [ $((hits * 2)) -ge "$polls" ]'
hvkitctl idlepoll set policy haltpoll

h=$(awk -F= '$1 == "rtt_median_ns" { print $2 }' /tmp/pp.hlt)
i=$(awk -F= '$1 == "rtt_median_ns" { print $2 }' /tmp/pp.ipoll)
a=$(awk -F= '$1 == "rtt_median_ns" { print $2 }' /tmp/pp.adaptive)
echo "# round trip median: HLT $h ns, guest_idlepoll haltpoll $i ns, adaptive $a ns"
# A CPU frozen in the idle path (interrupts off, say) stalls the ping-pong
# but, with the other CPU idle and no grace period pending, may print no
# RCU stall at all: the same round trips (2000; 200 in the debug suite)
# must not take much longer with the module than with HLT (seen: a
# planted 30 s freeze, 1.9 -> 30.6 s).
# The 15 s slack is for a VM the host starves during one run but not the
# other (debug nested-idlepoll shares the CPUs); it still catches that
# freeze.
wh=$(awk -F= '$1 == "wall_ns" { print $2 }' /tmp/pp.hlt)
wi=$(awk -F= '$1 == "wall_ns" { print $2 }' /tmp/pp.ipoll)
wa=$(awk -F= '$1 == "wall_ns" { print $2 }' /tmp/pp.adaptive)
check "no CPU froze: ping-pong wall time haltpoll $((${wi:-0} / 1000000)) ms, adaptive $((${wa:-0} / 1000000)) ms <= 3 x HLT's $((${wh:-0} / 1000000)) ms + 15 s" \
	eval '[ -n "$wh" ] && [ -n "$wi" ] && [ -n "$wa" ] &&
	      [ "$wi" -le $((wh * 3 + 15000000000)) ] && [ "$wa" -le $((wh * 3 + 15000000000)) ]'

# Steal back-off, end to end (issue 17 item 6). CPU 1 spins; CPU 0 runs a
# duty-cycle load (busy a few ms, idle 2 ms) twice: first with L2's vCPUs
# on L1's two CPUs, then with both on L1's CPU 0 (idlepoll_markhook at
# mark steal-start), where CPU 0, woken, waits behind its busy sibling:
# steal time. At steal_pct's default (10 %) the module must then stop
# polling on CPU 0 (BACKOFF), and poll again once the vCPUs have their own
# CPUs back (mark steal-end).
steal0() { awk '$1 == "cpu0" { print $9 }' /proc/stat; }
# duty SECONDS: the duty-cycle load on CPU 0, then CPU 0's figures in
# $e (idle entries), $p (polls), $b (back-offs), $st (steal, USER_HZ).
duty() {
	s0=$(steal0)
	hvkitctl idlepoll status --reset >/dev/null
	taskset -c 0 sh -c 'read -r t _ </proc/uptime; end=$((${t%.*} + '"$1"'))
		while read -r t _ </proc/uptime && [ "${t%.*}" -lt $end ]; do
			i=0; while [ $i -lt 200 ]; do i=$((i + 1)); done
			usleep 2000
		done'
	e=$(ipstat ENTRIES 0) p=$(ipstat POLLS 0) b=$(ipstat BACKOFF 0)
	st=$(($(steal0) - s0))
}
hvkitctl idlepoll set steal_pct 10
taskset -c 1 sh -c 'while :; do :; done' &
spin=$!
duty $DUTY_S
echo "# steal, vCPUs on their own L1 CPUs: CPU 0 entries $e, polls $p, back-offs $b, steal $st ticks"
ef=$e bf=$b sf=$st
mark steal-start
duty $DUTY_S
hvkitctl idlepoll status | sed 's/^/# steal, both vCPUs on L1 CPU 0: /'
echo "# steal, both vCPUs on L1 CPU 0: CPU 0 entries $e, polls $p, back-offs $b, steal $st ticks"
es=$e bs=$b ss=$st
mark steal-end
duty $DUTY_S
echo "# steal, vCPUs on their own L1 CPUs again: CPU 0 entries $e, polls $p, back-offs $b, steal $st ticks"
kill $spin
wait $spin 2>/dev/null
check "steal: CPU 0 waited behind its busy sibling on one L1 CPU (steal $ss ticks; $sf on two L1 CPUs)" \
	[ "${ss:-0}" -gt 0 ]
check "steal back-off: CPU 0 stopped polling while it saw steal (back-offs $bs of $es idle entries)" \
	[ "${bs:-0}" -gt 0 ]
figure "steal back-off: a larger share of CPU 0's idle entries backed off with the steal than without ($bs of $es vs $bf of $ef)" \
	eval '[ "${es:-0}" -gt 0 ] && [ "${ef:-0}" -gt 0 ] && [ $((bs * ef)) -gt $((bf * es)) ]'
# A rate of the machine's share too: the debug L2 beside another VM saw
# 103-272 ticks of steal in 3 s runs even on its own L1 CPUs (34-90 %,
# far above steal_pct), and rightly kept backing off (polls 0-2).
figure "steal back-off: polling again with the vCPUs on their own CPUs (polls $p, back-offs $b of $e, steal $st ticks)" \
	[ "${p:-0}" -gt 0 ]
check "modprobe -r guest_idlepoll" modprobe -r guest_idlepoll
check "back to no cpuidle driver" [ "$(driver)" = none ]
exit $rc

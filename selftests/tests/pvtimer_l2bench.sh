#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# In L2: the guest_pvtimer benchmark runs (L1 side: pvtimer_bench). The
# same timer load (timerload, 2 threads x 2000 timers, 500 us period) runs
# REPS times (PVT_BENCH_REPS, default 5) in each configuration:
#   lapic  guest_pvtimer unloaded, the local APIC's TSC deadline is the
#          clockevent of both CPUs;
#   pvt    guest_pvtimer loaded, every CPU in agent mode (L1's
#          pvtimer_agent fires its deadlines).
# Each run sits between two marks, CFG-start-I and CFG-end-I, at which L1
# snapshots its KVM statistics of this VM (and, for pvt, the agent's
# status). Each run's figures go to the console as one line
#   # pvtbench CFG I: expiries=N expected=N early=N lost=N late_p50_ns=N ...
# (timerload's key=value lines, its exit status as status=, for pvt also
# guest_pvtimer's counters), which L1 reads from L2's console log. A
# timerload that fails, or a module that does not come up, fails the test;
# the figures themselves never do.
# shellcheck source=selftests/tests/tap_lib.sh
. /hvkit/tests/tap_lib
CE=/sys/devices/system/clockevents
D=/sys/kernel/debug/guest_pvtimer
REPS=${PVT_BENCH_REPS:-5}
# A lost timer stops a timerload thread for good; 10 s of no progress (not
# the default 2 s) tells it from a vCPU that nested TCG stalled a while.
TL="timerload -n 2000 -p 500 -t 2 -w 10"
echo "TAP version 13"

cur() { cat "$CE/clockevent$1/current_device" 2>/dev/null; }

# pvstat COLUMN: a column of guest_pvtimer's stats, summed over CPUs (the
# column found by its name in the header line).
pvstat() {
	awk -v col="$1" '
		$1 == "cpu" { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
		c && $1 ~ /^[0-9]+$/ { s += $c }
		END { printf "%d\n", s }' "$D/stats" 2>/dev/null
}

# pvmodes: the mode column of every CPU, e.g. "agent agent".
pvmodes() {
	awk '
		$1 == "cpu" { for (i = 1; i <= NF; i++) if ($i == "mode") c = i; next }
		c && $1 ~ /^[0-9]+$/ { printf "%s%s", sep, $c; sep = " " }
		END { print "" }' "$D/stats" 2>/dev/null
}

# all_agent: every CPU's mode (of pvmodes' "$m") is agent.
all_agent() {
	[ -n "$m" ] && ! echo "$m" | tr ' ' '\n' | grep -qvx agent
}

# figures FILE: timerload's key=value lines on one line.
figures() {
	awk -F= 'NF == 2 && $1 ~ /^[a-z_0-9]+$/ { printf "%s%s=%s", sep, $1, $2; sep = " " }
		END { print "" }' "$1"
}

# run CFG I: one timerload run between the marks CFG-start-I and CFG-end-I,
# its output in /tmp/tl.CFG.I, its exit status in $st; one TAP line.
run() {
	f=/tmp/tl.$1.$2
	mark "$1-start-$2"
	$TL >"$f" 2>&1
	st=$?
	mark "$1-end-$2"
	[ $st = 0 ] || sed "s/^/# $1 $2 timerload: /" "$f"
	check "run $2 $1: $(awk -F= '$1 == "expected" { print $2 }' "$f") timers all fired, none early, none lost (timerload exit $st)" \
		[ $st = 0 ]
}

echo "# pvtbench reps $REPS"
# All lapic runs first, then guest_pvtimer is loaded once for all its runs:
# every load and unload re-routes the device's MSI-X vectors (KVM irqfds,
# GSI routing updates that interrupt every L1 CPU), and the run that did
# that ten times died of the TCG platform fault twice.
modprobe -r guest_pvtimer 2>/dev/null
check "lapic runs: clockevents are lapic-deadline without the module (got '$(cur 0)' '$(cur 1)')" \
	eval '[ "$(cur 0)" = lapic-deadline ] && [ "$(cur 1)" = lapic-deadline ]'
i=1
while [ "$i" -le "$REPS" ]; do
	run lapic "$i"
	echo "# pvtbench lapic $i: $(figures /tmp/tl.lapic."$i") status=$st"
	i=$((i + 1))
done

check "pvt runs: modprobe guest_pvtimer" modprobe guest_pvtimer
check "pvt runs: clockevent0 and clockevent1 are guest_pvtimer (got '$(cur 0)' '$(cur 1)')" \
	eval '[ "$(cur 0)" = guest_pvtimer ] && [ "$(cur 1)" = guest_pvtimer ]'
i=1
while [ "$i" -le "$REPS" ]; do
	# The agent serves a CPU once it saw its slot: 2 s at most.
	w=0
	m=$(pvmodes)
	while [ $w -lt 20 ] && ! all_agent; do
		usleep 100000
		w=$((w + 1))
		m=$(pvmodes)
	done
	check "run $i pvt: every CPU in agent mode (modes: '$m', waited $((w * 100)) ms)" all_agent
	# Figures of a run not served by the agent would be mislabelled.
	if all_agent && [ "$(cur 0)" = guest_pvtimer ] && [ "$(cur 1)" = guest_pvtimer ]; then
		echo 1 >"$D/reset"
		run pvt "$i"
		# guest_pvtimer's counters of this run.
		x=
		for c in programmed direct backstop_writes cancel_writes agent_irqs stale_irqs lapic_irqs fallbacks agent_down; do
			x="$x $c=$(pvstat $c)"
		done
		echo "# pvtbench pvt $i: $(figures /tmp/tl.pvt."$i") status=$st$x modes_after=$(pvmodes | tr ' ' ,)"
	else
		sed 's/^/# guest_pvtimer stats: /' "$D/stats" 2>/dev/null
		echo "# pvtbench pvt $i: not run (guest_pvtimer is not the clockevent, or not every CPU in agent mode)"
	fi
	i=$((i + 1))
done
check "modprobe -r guest_pvtimer" modprobe -r guest_pvtimer
check "clockevents back to lapic-deadline (got '$(cur 0)' '$(cur 1)')" \
	eval '[ "$(cur 0)" = lapic-deadline ] && [ "$(cur 1)" = lapic-deadline ]'
exit $rc

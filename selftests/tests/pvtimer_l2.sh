#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# In L2 (a KVM guest of L1, with an ivshmem-doorbell device served by L1's
# "hvkitctl pvtimer serve" and pvtimer_agent): the same timer load
# (timerload) with the local APIC's TSC deadline and with guest_pvtimer as
# the clockevent, each run between two marks at which L1 snapshots its KVM
# statistics for this VM (pvtimer_nested compares the TSC-deadline MSR
# writes). Then, at mark kill-agent, L1 kills the server: the agent stops
# serving this VM, and a third run must still see every timer fire, none
# early, with guest_pvtimer back on the local APIC ("direct" mode).
# shellcheck source=selftests/tests/tap_lib.sh
. /hvkit/tests/tap_lib
CE=/sys/devices/system/clockevents
D=/sys/kernel/debug/guest_pvtimer
P=/sys/module/guest_pvtimer/parameters
# A lost timer stops a timerload thread for good; 10 s of no progress (not
# the default 2 s) tells it from a vCPU that nested TCG stalled a while.
TL="timerload -p 500 -t 2 -w 10"
# Timers per thread and run; the debug suite's L2 (KASAN, lockdep) runs a
# quarter: it looks for reports, the stock L2 for exit counts.
N=2000
[ "${SUITE_KIND:-stock}" = debug ] && N=500
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

# all_modes MODE: every CPU's mode (of pvmodes' "$m") is MODE.
all_modes() {
	[ -n "$m" ] && ! echo "$m" | tr ' ' '\n' | grep -qvx "$1"
}

# agent_gen: the agent_gen of the stats' first line ("device BDF slots N
# agent_gen G").
agent_gen() {
	awk 'NR == 1 { for (i = 1; i < NF; i++) if ($i == "agent_gen") print $(i + 1); exit }' \
		"$D/stats" 2>/dev/null
}

kv() { # kv KEY FILE: the value of KEY=value in timerload's output
	awk -F= -v k="$1" '$1 == k { print $2; exit }' "$2"
}

# summary FILE: one line of a timerload run's figures.
summary() {
	echo "expiries=$(kv expiries "$1") of $(kv expected "$1"), early $(kv early "$1"), late p50 $(kv late_p50_ns "$1") ns, p99 $(kv late_p99_ns "$1") ns, max $(kv late_max_ns "$1") ns, elapsed $(kv elapsed_ns "$1") ns"
}

# load NAME FILE COUNT: one timerload run; its status in $st.
load() {
	$TL -n "$3" >"$2"
	st=$?
	[ $st = 0 ] || sed "s/^/# $1 timerload: /" "$2"
	check "$1: $(kv expected "$2") timers all fired, none early, none lost (timerload exit $st)" \
		[ $st = 0 ]
}

modprobe -r guest_pvtimer 2>/dev/null
check "clockevents are lapic-deadline without the module (got '$(cur 0)' '$(cur 1)')" \
	eval '[ "$(cur 0)" = lapic-deadline ] && [ "$(cur 1)" = lapic-deadline ]'

mark lapic-start
load lapic-deadline /tmp/tl.lapic "$N"
mark lapic-end
echo "# lapic: $(summary /tmp/tl.lapic)"

check "modprobe guest_pvtimer" modprobe guest_pvtimer
dmesg | grep 'guest_pvtimer' | sed 's/^/# /'
grep -H . "$P"/* 2>/dev/null | sed "s@^$P/@# parameter @"
check "clockevent0 and clockevent1 are guest_pvtimer (got '$(cur 0)' '$(cur 1)')" \
	eval '[ "$(cur 0)" = guest_pvtimer ] && [ "$(cur 1)" = guest_pvtimer ]'
echo 1 >"$D/reset"
echo "# before the guest_pvtimer run: $(head -n1 "$D/stats"); modes: $(pvmodes)"
mark pvt-start
load guest_pvtimer /tmp/tl.pvt "$N"
mark pvt-end
echo "# pvtimer: $(summary /tmp/tl.pvt)"
sed 's/^/# pvtimer stats: /' "$D/stats"
a=$(pvstat agent_irqs) p=$(pvstat programmed)
check "the agent fired deadlines (agent_irqs $a)" [ "$a" -gt 0 ]
check "deadlines went through guest_pvtimer (programmed $p)" [ "$p" -gt 0 ]

# L1's hook kills the server at this mark; the agent detaches this VM.
echo 1 >"$D/reset"
mark kill-agent
# The agent clears the header's agent_gen when it detaches: wait for it
# (5 s at most) so that the run below starts without the agent.
i=0
while [ $i -lt 50 ] && [ "$(agent_gen)" != 0 ]; do
	usleep 100000
	i=$((i + 1))
done
echo "# after kill-agent: $(head -n1 "$D/stats") (waited $((i * 100)) ms)"
load "after agent kill" /tmp/tl.kill $((N / 2))
echo "# after agent kill: $(summary /tmp/tl.kill)"
sed 's/^/# after agent kill stats: /' "$D/stats"
f=$(pvstat fallbacks) d=$(pvstat agent_down) m=$(pvmodes)
check "guest_pvtimer noticed the agent gone (fallbacks $f, agent_down $d)" \
	[ $((f + d)) -gt 0 ]
check "every CPU in direct mode after the agent's death (modes: $m)" all_modes direct

echo "# lapic: $(summary /tmp/tl.lapic)"
echo "# pvtimer: $(summary /tmp/tl.pvt)"
echo "# after agent kill: $(summary /tmp/tl.kill)"
check "modprobe -r guest_pvtimer" modprobe -r guest_pvtimer
check "clockevents back to lapic-deadline (got '$(cur 0)' '$(cur 1)')" \
	eval '[ "$(cur 0)" = lapic-deadline ] && [ "$(cur 1)" = lapic-deadline ]'
exit $rc

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# In L2 (a KVM guest of L1, with an ivshmem-doorbell device served by L1's
# "hvkitctl pvtimer serve" and pvtimer_agent): the same timer load
# (timerload) with the local APIC's TSC deadline and with guest_pvtimer as
# the clockevent, each run between two marks at which L1 snapshots its KVM
# statistics for this VM (pvtimer_nested compares the TSC-deadline MSR
# writes). Then two runs with the safety net at work in their middle: at
# mark stall-agent L1 makes the agent skip its scans for 300 ms, at mark
# kill-agent L1 kills the server (the agent detaches this VM); each run
# must see every timer fire, none early, none later than backstop_us past
# the local APIC's own worst, and guest_pvtimer ends on the local APIC
# ("direct" mode) after the kill.
# shellcheck source=selftests/tests/trace_lib.sh
. /hvkit/tests/trace_lib
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
# The short form (make demo's demo-pvtimer, and nested-pvtimer-2vm's two
# L2s): one run of each kind.
SHORT=no
case "$GROUP" in demo-*|*-2vm-*) SHORT=yes N=500 ;; esac
echo "TAP version 13"

cur() { cat "$CE/clockevent$1/current_device" 2>/dev/null; }

# pvstat COLUMN [CPU]: a column of guest_pvtimer's stats (found by its
# name in the header line), summed over CPUs, or CPU's value as it is.
pvstat() {
	awk -v col="$1" -v cpu="${2:-}" '
		$1 == "cpu" { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
		c && cpu != "" && $1 == cpu { print $c; exit }
		c && $1 ~ /^[0-9]+$/ { s += $c }
		END { if (cpu == "") printf "%d\n", s }' "$D/stats" 2>/dev/null
}

# pvmax: the largest late_max_ns of any CPU (agent and safety-net firings).
pvmax() {
	awk '
		$1 == "cpu" { for (i = 1; i <= NF; i++) if ($i == "late_max_ns") c = i; next }
		c && $1 ~ /^[0-9]+$/ && $c > m { m = $c }
		END { printf "%d\n", m }' "$D/stats" 2>/dev/null
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

# summary FILE: one line of a timerload run's figures (one awk: seven
# kv calls were 14 processes, half a second of a debug L2 under nested
# TCG, and it is printed 11 times).
summary() {
	awk -F= '!($1 in v) { v[$1] = $2 }
		END { printf "expiries=%s of %s, early %s, late p50 %s ns, p99 %s ns, max %s ns, elapsed %s ns\n",
			v["expiries"], v["expected"], v["early"], v["late_p50_ns"],
			v["late_p99_ns"], v["late_max_ns"], v["elapsed_ns"] }' "$1"
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
if [ $SHORT = yes ]; then
	w=$(($(pvstat direct) + $(pvstat backstop_writes) + $(pvstat cancel_writes)))
	echo "# this guest's own TSC-deadline MSR writes in the guest_pvtimer run: $w for $p deadlines"
	check "modprobe -r guest_pvtimer" modprobe -r guest_pvtimer
	exit $rc
fi

# guest_pvtimer's trace events, on a short run of their own (not during
# the measured one).
EV="guest_pvtimer/pvt_program guest_pvtimer/pvt_fire"
trace_start() { trace_mount && trace_on "$@"; }
check "tracefs: enable pvt_program and pvt_fire" trace_start $EV
$TL -n 200 >/tmp/tl.trace
trace_off $EV
# An excerpt: every byte L2 prints is a VM exit to L1's QEMU, about
# 0.15 ms each under nested TCG (40 lines were 5 KB, near a second).
trace_show pvtimer 8
check "pvt_program: deadlines through the agent's slot (path=agent)" \
	trace_has pvt_program 'cpu=[01] deadline=[0-9]+ path=agent backstop=[01]'
check "pvt_fire: the agent's interrupts with their lateness (source=agent)" \
	trace_has pvt_fire 'cpu=[01] deadline=[0-9]+ late_ns=[0-9]+ source=agent'

# Guest CPU hotplug with the module loaded (issue 17 item 5). CPU 1 goes
# offline: guest_pvtimer gives its device up and disarms its slot (the
# slot's vector, managed affinity, is shut down with the CPU); CPU 0 keeps
# the agent. Back online, CPU 1 takes its slot again and the agent fires
# its deadlines. Then the module is unloaded and loaded while CPU 1 is
# offline, and CPU 1 gets guest_pvtimer only when it comes online.
ON=/sys/devices/system/cpu/cpu1/online
HP=$((N / 4))
cpu1() { echo "$1" >"$ON"; }
# hp_run NAME FILE CPU: a short timer run; the agent must have fired
# deadlines of CPU (its agent_irqs, counted from a reset before the run).
hp_run() {
	echo 1 >"$D/reset"
	load "$1" "$2" "$HP"
	echo "# $1: $(summary "$2")"
	ai=$(pvstat agent_irqs "$3")
	check "$1: the agent fired CPU $3's deadlines (agent_irqs ${ai:-?})" \
		[ "${ai:-0}" -gt 0 ]
}
check "CPU 1 offline with guest_pvtimer loaded" cpu1 0
m0=$(pvstat mode 0) m1=$(pvstat mode 1)
check "CPU 1 offline: CPU 0 keeps guest_pvtimer ('$(cur 0)', mode $m0), CPU 1 released (mode $m1)" \
	eval '[ "$(cur 0)" = guest_pvtimer ] && [ "$m0" != lapic ] && [ "$m1" = lapic ]'
hp_run "CPU 1 offline" /tmp/tl.hp0 0
check "CPU 1 online again" cpu1 1
m1=$(pvstat mode 1)
check "CPU 1 online: guest_pvtimer again ('$(cur 1)', mode $m1)" \
	eval '[ "$(cur 1)" = guest_pvtimer ] && [ "$m1" != lapic ]'
hp_run "CPU 1 back online" /tmp/tl.hp1 1
cpu1 0
check "modprobe -r guest_pvtimer with CPU 1 offline" modprobe -r guest_pvtimer
check "clockevent0 back to lapic-deadline (got '$(cur 0)')" \
	eval '[ "$(cur 0)" = lapic-deadline ]'
check "modprobe guest_pvtimer with CPU 1 offline" modprobe guest_pvtimer
m1=$(pvstat mode 1)
check "loaded with CPU 1 offline: clockevent0 guest_pvtimer ('$(cur 0)'), CPU 1 not taken (mode $m1)" \
	eval '[ "$(cur 0)" = guest_pvtimer ] && [ "$m1" = lapic ]'
check "CPU 1 online after the load" cpu1 1
m1=$(pvstat mode 1)
check "CPU 1 online: guest_pvtimer ('$(cur 1)', mode $m1)" \
	eval '[ "$(cur 1)" = guest_pvtimer ] && [ "$m1" != lapic ]'
hp_run "CPU 1 online after a load without it" /tmp/tl.hp2 1
dmesg | grep 'guest_pvtimer' | tail -n 8 | sed 's/^/# after hotplug: /'

# The safety net, in the middle of a timer run (issue 17 item 5): every
# timer still fires, and no deadline the agent or the safety net served
# (guest_pvtimer's own late_max_ns, taken in its interrupt handlers) is
# later than backstop_us past the worst the local APIC itself showed in
# this boot (the emulator's share). timerload's lateness adds L2's thread
# wakeups (two vCPUs on one L1 CPU under TCG): printed, not judged.
bs=$(cat "$P/backstop_us")
bound=$((bs * 1000 + $(kv late_max_ns /tmp/tl.lapic)))
# midrun NAME FILE COUNT MARK WHILE: a timerload run in the background,
# MARK (L1's mark hook acts on it) half a second in; WHILE (a command) is
# polled while the run goes on: $during says whether it held before the
# run ended.
midrun() {
	$TL -n "$3" >"$2" &
	tl=$!
	usleep 500000
	mark "$4"
	during=no
	while kill -0 $tl 2>/dev/null; do
		[ $during = no ] && eval "$5" && during=yes
		usleep 50000
	done
	wait $tl
	st=$?
	[ $st = 0 ] || sed "s/^/# $1 timerload: /" "$2"
	echo "# $1: $(summary "$2")"
	check "$1: $(kv expected "$2") timers all fired, none early, none lost (timerload exit $st)" \
		[ $st = 0 ]
	late=$(pvmax)
	check "$1: none later than backstop_us + the lapic run's max (${late:-?} <= $bound ns; timerload's max $(kv late_max_ns "$2"))" \
		[ "${late:-999999999999}" -le "$bound" ]
}
# Timers per thread of the two mid-run runs: at least 2000 (3-4 s under
# TCG, as the stock L2's lapic run of 2 x 2000), so that the mark 0.5 s
# in, a 300 ms stall and the recovery, or the kill and the detach, all
# fall inside the run.
MID=$N
[ $MID -lt 2000 ] && MID=2000

# A stalled agent: L1 makes its thread skip scans for 300 ms; the guest
# must see the overdue scan, program its local APIC, and come back.
echo 1 >"$D/reset"
midrun "agent stalled mid-run" /tmp/tl.stall "$MID" stall-agent '[ "$(pvstat agent_down)" -gt 0 ]'
sed 's/^/# agent stalled stats: /' "$D/stats"
down=$(pvstat agent_down) rec=$(pvstat recovered) fb=$(pvstat fallbacks)
check "agent stalled: the guest went direct during the run (agent_down $down, backstop fallbacks $fb) and back (recovered $rec)" \
	[ $during = yes -a "$rec" -gt 0 ]

# L1's hook kills the server at this mark, while timers run; the agent
# detaches this VM.
echo 1 >"$D/reset"
midrun "agent killed mid-run" /tmp/tl.kill "$MID" kill-agent '[ "$(agent_gen)" = 0 ]'
echo "# after kill-agent: $(head -n1 "$D/stats")"
sed 's/^/# after agent kill stats: /' "$D/stats"
check "agent killed: detached while the run went on (agent_gen 0 during the run: $during)" \
	[ $during = yes ]
f=$(pvstat fallbacks) d=$(pvstat agent_down) m=$(pvmodes)
check "guest_pvtimer noticed the agent gone (fallbacks $f, agent_down $d)" \
	[ $((f + d)) -gt 0 ]
check "every CPU in direct mode after the agent's death (modes: $m)" all_modes direct

echo "# lapic: $(summary /tmp/tl.lapic)"
echo "# pvtimer: $(summary /tmp/tl.pvt)"
echo "# agent stalled mid-run: $(summary /tmp/tl.stall)"
echo "# agent killed mid-run: $(summary /tmp/tl.kill)"
check "modprobe -r guest_pvtimer" modprobe -r guest_pvtimer
check "clockevents back to lapic-deadline (got '$(cur 0)' '$(cur 1)')" \
	eval '[ "$(cur 0)" = lapic-deadline ] && [ "$(cur 1)" = lapic-deadline ]'
exit $rc

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guest_pvtimer benchmark (L1 side; L2 side: pvtimer_l2bench). PID 1 loaded
# pvtimer_agent; this starts "hvkitctl pvtimer serve" (the ivshmem server
# L2's QEMU ivshmem-doorbell device connects to) and boots L2, which runs
# the same timer load (timerload) REPS times with the local APIC's TSC
# deadline (lapic-deadline, the stock clockevent) and with guest_pvtimer,
# each run between the marks CFG-start-I and CFG-end-I (CFG lapic or pvt).
# The mark hook (pvtimer_markhook) saves the agent's status at the pvt
# marks. Per run it joins
#   - from L1's KVM snapshots at the marks (/tmp/l2/marks): L2's
#     TSC-deadline MSR writes (msr_0x6e0_w) and all its exits,
#   - from L2's console ("# pvtbench CFG I: key=value ..."): the timers
#     that fired and their lateness (p50, p99),
#   - from the agent's status (pvt runs): its CPU time and the deadlines it
#     fired,
# and prints the medians over the runs side by side ("| " table lines).
# TAP: L2's checks (every timerload run worked), hvkit-l2 and the server
# worked, and each run's figures are there; no figure is a pass/fail bar.
# shellcheck source=selftests/tests/tap_lib.sh
. /hvkit/tests/tap_lib
SOCK=/tmp/pvt.sock
CONS=/tmp/pvb.console
# One line per run: CFG I msr_per1k exits_per1k p50_us p99_us
# agent_cpu_ms_per1k fired_per1k ("missing" for a figure not found, "-"
# for one that does not apply).
ALL=/tmp/pvb.all
echo "TAP version 13"
n=200

rm -f "$SOCK" /tmp/serve.pid /tmp/status.* /tmp/pvb.reason.* "$ALL" "$CONS"
stop_server() {
	pid=$(cat /tmp/serve.pid 2>/dev/null)
	[ -n "$pid" ] || return 0
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f /tmp/serve.pid
}
# show_server: its log, without the (many) TSC offset updates.
show_server() {
	grep -v 'TSC offset now' /tmp/serve.log | sed 's/^/# serve.log: /'
	echo "# serve.log: ($(grep -c 'TSC offset now' /tmp/serve.log) TSC offset updates)"
}

check "pvtimer_agent loaded" [ -d /sys/module/pvtimer_agent ]
: >/tmp/serve.log
hvkitctl pvtimer serve --socket "$SOCK" --vcpus 2 >/tmp/serve.log 2>&1 &
echo $! >/tmp/serve.pid
i=0
while [ $i -lt 100 ] && ! grep -q '^pvtimer serve: listening on' /tmp/serve.log; do
	kill -0 "$(cat /tmp/serve.pid)" 2>/dev/null || break
	usleep 100000
	i=$((i + 1))
done
if ! grep -q '^pvtimer serve: listening on' /tmp/serve.log; then
	echo "not ok $((n + 1)) hvkitctl pvtimer serve listens on $SOCK (waited $((i / 10)) s)"
	show_server
	stop_server
	exit 1
fi
check "hvkitctl pvtimer serve listens on $SOCK" grep -q '^pvtimer serve: listening on' /tmp/serve.log

L2_MARK_HOOK=/hvkit/tests/pvtimer_markhook hvkit-l2 -t 900
l2rc=$?
stop_server
check "hvkit-l2: L2 ran the benchmark and every L2 check passed (exit $l2rc)" [ $l2rc = 0 ]
show_server
check "serve: L2's QEMU attached" \
	grep -q '^pvtimer serve: VM pid [0-9]* attached as id' /tmp/serve.log
grep -q 'exit status [1-9]' /tmp/l2/markhook.log 2>/dev/null &&
	sed 's/^/# markhook.log: /' /tmp/l2/markhook.log

tr -d '\r' </tmp/l2/console.log >"$CONS" 2>/dev/null
reps=$(sed -n 's/^# pvtbench reps \([0-9][0-9]*\)$/\1/p' "$CONS" | head -n1)
check "L2 said how many runs it does (reps '$reps')" [ -n "$reps" ]
[ -n "$reps" ] || reps=0

# delta STAT FROM TO: STAT at mark TO minus at mark FROM (L1's snapshots),
# or "missing". A histogram count (exit_0x..., msr_0x...) has no line
# until its first hit: 0 at a mark that has other counts of its histogram.
delta() {
	awk -v s="$1" -v a="$2" -v b="$3" '
		BEGIN { p = s ~ /^msr_0x/ ? "msr_0x" : s ~ /^exit_0x/ ? "exit_0x" : "" }
		$1 == a && $2 == s { x = $3; hx = 1 }
		$1 == b && $2 == s { y = $3; hy = 1 }
		p != "" && $1 == a && index($2, p) == 1 { ha = 1 }
		p != "" && $1 == b && index($2, p) == 1 { hb = 1 }
		END {
			if (ha && !hx) { x = 0; hx = 1 }
			if (hb && !hy) { y = 0; hy = 1 }
			if (hx && hy) printf "%.0f\n", y - x; else print "missing"
		}' /tmp/l2/marks 2>/dev/null
}

# reasons CFG I TIMERS: "COUNT I PER1K" for every exit reason and MSR
# count (exit_0x..., msr_0x...: histograms, a count has no line until its
# first hit) of run CFG I, per 1000 timers ("missing" without both marks).
reasons() {
	awk -v a="$1-start-$2" -v b="$1-end-$2" -v i="$2" -v t="$3" '
		$2 ~ /^(exit|msr)_0x/ {
			r[$2] = 1
			if ($1 == a) { x[$2] = $3; ha = 1 }
			if ($1 == b) { y[$2] = $3; hb = 1 }
		}
		END {
			for (k in r)
				if (ha && hb && t ~ /^[0-9]+$/ && t > 0)
					printf "%s %s %.3f\n", k, i, (y[k] - x[k]) * 1000 / t
				else
					print k, i, "missing"
		}' /tmp/l2/marks 2>/dev/null
}

# agentstat KEY FILE: the value of "KEY: value" in an agent status file.
agentstat() {
	awk -F': *' -v k="$1" '$1 == k { print $2; exit }' "$2" 2>/dev/null
}

# sdelta KEY FROM TO: KEY in /tmp/status.TO minus in /tmp/status.FROM (the
# agent's status the mark hook saved at those marks), or "missing".
sdelta() {
	awk -v a="$(agentstat "$1" "/tmp/status.$2")" -v b="$(agentstat "$1" "/tmp/status.$3")" '
		BEGIN {
			if (a !~ /^[0-9]+(\.[0-9]+)?$/ || b !~ /^[0-9]+(\.[0-9]+)?$/)
				print "missing"
			else if (b - a == int(b - a))
				printf "%d\n", b - a
			else
				printf "%.3f\n", b - a
		}'
}

# per1k COUNT TIMERS: COUNT per 1000 timers, or "missing".
per1k() {
	awk -v c="$1" -v t="$2" 'BEGIN {
		if (c ~ /^-?[0-9]+(\.[0-9]+)?$/ && t ~ /^[0-9]+$/ && t > 0)
			printf "%.3f\n", c * 1000 / t
		else
			print "missing" }'
}

# us NS: nanoseconds as microseconds, or "missing".
us() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /^[0-9]+$/) printf "%.3f\n", v / 1000; else print "missing" }'
}

# kv KEY: the value of KEY=value in the run's figures line ($line).
kv() {
	echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n1
}

# med CFG COLUMN: the median of COLUMN over CFG's complete runs in $ALL
# (a run with a figure missing is left out, so that every column is over
# the same runs), or "missing" if there is none.
med() {
	awk -v c="$1" -v k="$2" '
		$1 == c && !/missing/ && $k ~ /^-?[0-9]+(\.[0-9]+)?$/ { v[++nv] = $k + 0 }
		END {
			if (!nv) { print "missing"; exit }
			for (i = 2; i <= nv; i++)
				for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
					t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
				}
			if (nv % 2) m = v[(nv + 1) / 2]
			else m = (v[nv / 2] + v[nv / 2 + 1]) / 2
			printf "%.6f\n", m
		}' "$ALL" 2>/dev/null
}

# cell VALUE FORMAT: a table cell, "?" for a missing figure.
cell() {
	awk -v v="$1" -v f="$2" 'BEGIN {
		if (v ~ /^-?[0-9]+(\.[0-9]+)?$/) printf f "\n", v; else print "?" }'
}

# ratio A B: B / A as "0.123x", "-" when A is 0 or either is missing.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a ~ /^[0-9]+(\.[0-9]+)?$/ && b ~ /^[0-9]+(\.[0-9]+)?$/ && a > 0)
			printf "%.3fx\n", b / a
		else
			print "-" }'
}

: >"$ALL"
timers='' threads='' period=''
i=1
while [ "$i" -le "$reps" ]; do
	for cfg in lapic pvt; do
		line=$(grep "^# pvtbench $cfg $i: " "$CONS" | head -n1)
		st=$(kv status)
		t=$(kv expiries)
		# A run that did not work (L2's check failed) has no figures.
		[ "$st" = 0 ] || t=
		if [ -n "$t" ] && [ -z "$timers" ]; then
			timers=$(kv expected) threads=$(kv threads) period=$(kv period_us)
		fi
		msr=$(delta msr_0x6e0_w "$cfg-start-$i" "$cfg-end-$i")
		ex=$(delta exits "$cfg-start-$i" "$cfg-end-$i")
		p50=$(us "$(kv late_p50_ns)") p99=$(us "$(kv late_p99_ns)")
		[ -n "$t" ] || p50=missing p99=missing
		cpu=- fired=- agent=
		if [ $cfg = pvt ]; then
			cpu=$(sdelta agent_cpu_ms "pvt-start-$i" "pvt-end-$i")
			fired=$(sdelta fired "pvt-start-$i" "pvt-end-$i")
			agent=", agent CPU $cpu ms, agent fired $fired"
		fi
		echo "# raw: $cfg run $i: ${t:-no} timers (timerload status '${st:-none}'), TSC-deadline MSR writes $msr, exits $ex, lateness p50 $p50 us, p99 $p99 us, max $(us "$(kv late_max_ns)") us, elapsed $(us "$(kv elapsed_ns)") us$agent"
		[ $cfg = pvt ] && [ -n "$line" ] &&
			echo "# raw: pvt run $i guest_pvtimer: $(echo "$line" | tr ' ' '\n' |
				grep -E '^(programmed|direct|backstop_writes|cancel_writes|agent_irqs|stale_irqs|lapic_irqs|fallbacks|agent_down|modes_after)=' |
				tr '\n' ' ')"
		m1k=$(per1k "$msr" "$t") e1k=$(per1k "$ex" "$t")
		c1k=- f1k=-
		[ $cfg = pvt ] && c1k=$(per1k "$cpu" "$t") f1k=$(per1k "$fired" "$t")
		echo "$cfg $i $m1k $e1k $p50 $p99 $c1k $f1k" >>"$ALL"
		check "$cfg run $i: figures present (MSR writes / 1000 timers $m1k, exits / 1000 timers $e1k, p50 $p50 us, p99 $p99 us, agent CPU ms / 1000 timers $c1k, agent fired / 1000 timers $f1k)" \
			eval '! grep -q "^$cfg $i .*missing" "$ALL"'
		reasons "$cfg" "$i" "$t" >>"/tmp/pvb.reason.$cfg"
	done
	i=$((i + 1))
done

# Exits by reason (SVM exit codes: 0x060 INTR, 0x064 VINTR, 0x078 HLT,
# 0x07b IOIO, 0x07c MSR, 0x400 NPF; MSR writes: 0x6e0 TSC_DEADLINE, 0x830
# x2APIC ICR (IPIs), 0x80b EOI): medians per 1000 timers.
for c in $(cat /tmp/pvb.reason.lapic /tmp/pvb.reason.pvt 2>/dev/null | awk '{ print $1 }' | sort -u); do
	a=$(ALL=/tmp/pvb.reason.lapic med "$c" 3) b=$(ALL=/tmp/pvb.reason.pvt med "$c" 3)
	echo "# exits by reason per 1000 timers (median): $c lapic-deadline $(cell "$a" %.1f), guest_pvtimer $(cell "$b" %.1f)"
done
rm -f /tmp/pvb.reason.*

sed 's/^/# agent status at pvt-start-1: /' /tmp/status.pvt-start-1 2>/dev/null
sed "s/^/# agent status at pvt-end-$reps: /" "/tmp/status.pvt-end-$reps" 2>/dev/null
scan=$(cat /sys/module/pvtimer_agent/parameters/scan_us 2>/dev/null)

nl=$(awk '$1 == "lapic" && !/missing/' "$ALL" | grep -c .)
np=$(awk '$1 == "pvt" && !/missing/' "$ALL" | grep -c .)
if [ "$nl" = "$np" ]; then
	runs="$nl runs"
else
	runs="$nl (lapic-deadline) and $np (guest_pvtimer) runs"
fi
per=
[ -n "$threads" ] && [ "$threads" -gt 0 ] 2>/dev/null &&
	per=" ($threads threads x $((timers / threads)), $period µs period)"

lm=$(med lapic 3) le=$(med lapic 4) l50=$(med lapic 5) l99=$(med lapic 6)
pm=$(med pvt 3) pe=$(med pvt 4) p50=$(med pvt 5) p99=$(med pvt 6)
pc=$(med pvt 7) pf=$(med pvt 8)
echo "| clockevent | TSC-deadline MSR writes / 1000 timers | exits / 1000 timers | lateness p50 (µs) | lateness p99 (µs) | agent CPU (ms / 1000 timers) | agent-fired deadlines / 1000 timers |"
echo "|---|---:|---:|---:|---:|---:|---:|"
echo "| lapic-deadline (stock) | $(cell "$lm" %.1f) | $(cell "$le" %.0f) | $(cell "$l50" %.1f) | $(cell "$l99" %.1f) | - | - |"
echo "| guest_pvtimer | $(cell "$pm" %.1f) | $(cell "$pe" %.0f) | $(cell "$p50" %.1f) | $(cell "$p99" %.1f) | $(cell "$pc" %.2f) | $(cell "$pf" %.0f) |"
echo "| guest_pvtimer / lapic-deadline | $(ratio "$lm" "$pm") | $(ratio "$le" "$pe") | $(ratio "$l50" "$p50") | $(ratio "$l99" "$p99") | | |"
echo "| medians of $runs of ${timers:-?} timers$per in L2 under nested TCG; agent scan_us=${scan:-?}; exits and agent CPU include the 1 s L2 waits after each run's start mark"
exit $rc

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# L1 side of the guest_pvtimer nested test. PID 1 loaded pvtimer_agent;
# this starts "hvkitctl pvtimer serve" (the ivshmem server L2's QEMU
# ivshmem-doorbell device connects to) and boots L2 (pvtimer_l2 runs the
# same timer load with the local APIC's TSC deadline and with
# guest_pvtimer, then again after L1 killed the server). It compares the
# TSC-deadline MSR writes (msr_0x6e0_w) L1's KVM counted for L2 in the
# first two runs, from the snapshots hvkit-l2 took at L2's marks: with
# guest_pvtimer they must drop by at least 90 %. At L2's mark
# "stall-agent" the mark hook (pvtimer_markhook) makes the agent skip its
# scans for 300 ms, at "kill-agent" it SIGKILLs the server, each in the
# middle of a timer run.
# shellcheck source=selftests/tests/tap_lib.sh
. /hvkit/tests/tap_lib
SOCK=/tmp/pvt.sock
# pvtimer_l2's runs: timerload -n 2000 -t 2 (its "# lapic: expiries=" line
# says, when L2's console has it; 500 in make demo's form).
TIMERS=4000
echo "TAP version 13"
n=100

rm -f "$SOCK" /tmp/serve.pid /tmp/kill.time /tmp/status.*
stop_server() {
	pid=$(cat /tmp/serve.pid 2>/dev/null)
	[ -n "$pid" ] || return 0
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f /tmp/serve.pid
}
show_server() {
	sed 's/^/# serve.log: /' /tmp/serve.log
}

check "pvtimer_agent loaded" [ -d /sys/module/pvtimer_agent ]
# The agent's thread is SCHED_FIFO (policy 1, /proc/PID/stat field 41):
# L2's vCPU threads share its CPU here and must not delay its scans.
pol=
for d in /proc/[0-9]*; do
	case "$(cat "$d/comm" 2>/dev/null)" in
	pvtimer_agent/*) pol=$(awk '{print $41}' "$d/stat"); break ;;
	esac
done
check "the agent thread is SCHED_FIFO (policy '$pol')" [ "$pol" = 1 ]
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

L2_MARK_HOOK=/hvkit/tests/pvtimer_markhook hvkit-l2
l2rc=$?
# Normally killed at L2's mark kill-agent already.
stop_server
[ $l2rc = 0 ] || rc=1

show_server
sed 's/^/# markhook.log: /' /tmp/l2/markhook.log 2>/dev/null
check "serve: L2's QEMU attached" \
	grep -q '^pvtimer serve: VM pid [0-9]* attached as id' /tmp/serve.log
# guest_pvtimer named each slot's CPU by its APIC ID; with QEMU's usual
# topology slot K is vCPU K's (the server says so, or remaps; never detaches).
check "serve: L2 named slots 0 and 1 by their CPUs' APIC IDs, each the server's vCPU" sh -c \
	"grep -q '^pvtimer serve: slot 0 is vCPU 0.s (APIC ID 0): checked' /tmp/serve.log &&
	 grep -q '^pvtimer serve: slot 1 is vCPU 1.s (APIC ID 1): checked' /tmp/serve.log"
for f in pvt-start pvt-end killed; do
	[ -f "/tmp/status.$f" ] && sed "s/^/# agent status at $f: /" "/tmp/status.$f"
done

# agentstat NAME FILE: the value of "NAME: value" in an agent status file.
agentstat() {
	awk -F': *' -v k="$1" '$1 == k { print $2; exit }' "$2" 2>/dev/null
}
f0=$(agentstat fired /tmp/status.pvt-start) f1=$(agentstat fired /tmp/status.pvt-end)
check "agent fired L2's deadlines during the guest_pvtimer run (fired: '$f0' -> '$f1')" \
	eval '[ -n "$f0" ] && [ -n "$f1" ] && [ "$f1" -gt "$f0" ]'
# make demo's short form (group demo-pvtimer) has no stall or kill runs.
case "$GROUP" in demo-*) DEMO=yes ;; *) DEMO=no ;; esac
if [ $DEMO = no ]; then
	stalled=$(dmesg | grep -c 'pvtimer_agent: stalling 300 ms')
	check "mark hook stalled the agent once at L2's mark stall-agent (dmesg: $stalled)" \
		[ "$stalled" = 1 ]
	check "mark hook killed the server at L2's mark kill-agent ($(cat /tmp/kill.time 2>/dev/null))" \
		[ -s /tmp/kill.time ]
	attached=$(agentstat attached /tmp/status.killed)
	check "agent detached the killed server's VM (attached: '$attached')" \
		[ "$attached" = 0 ]
fi

delta() { # delta STAT FROM TO
	awk -v s="$1" -v a="$2" -v b="$3" '
		$2 == s && $1 == a { x = $3 } $2 == s && $1 == b { y = $3 }
		END { if (x == "" || y == "") print "missing"; else print y - x }' /tmp/l2/marks
}
t=$(tr -d '\r' </tmp/l2/console.log 2>/dev/null |
	sed -n 's/^# lapic: expiries=\([0-9][0-9]*\) .*/\1/p' | head -n1)
[ -n "$t" ] && [ "$t" -gt 0 ] && TIMERS=$t
lm=$(delta msr_0x6e0_w lapic-start lapic-end)
pm=$(delta msr_0x6e0_w pvt-start pvt-end)
le=$(delta exits lapic-start lapic-end)
pe=$(delta exits pvt-start pvt-end)
per1k() { # per1k COUNT: COUNT per 1000 timers
	case "$1" in
	missing) echo "?" ;;
	*) echo $(($1 * 1000 / TIMERS)) ;;
	esac
}
echo "# L1 KVM, L2 timer load ($TIMERS timers) with lapic-deadline: TSC-deadline MSR writes $lm ($(per1k "$lm") per 1000 timers), exits $le ($(per1k "$le") per 1000 timers)"
echo "# L1 KVM, L2 timer load ($TIMERS timers) with guest_pvtimer: TSC-deadline MSR writes $pm ($(per1k "$pm") per 1000 timers), exits $pe ($(per1k "$pe") per 1000 timers)"
# Exit reasons (SVM exit codes: 0x060 INTR, 0x064 VINTR, 0x078 HLT,
# 0x07b IOIO, 0x07c MSR, 0x400 NPF). MSRs: 0x6e0 TSC_DEADLINE, 0x830 x2APIC
# ICR (IPIs), 0x80b EOI.
for c in $(awk '$2 ~ /^(exit|msr)_0x/ { print $2 }' /tmp/l2/marks | sort -u); do
	a=$(delta "$c" lapic-start lapic-end) b=$(delta "$c" pvt-start pvt-end)
	[ "$a$b" = 00 ] || echo "# exits by reason: $c lapic-deadline $a, guest_pvtimer $b"
done
tenth() { # tenth BEFORE AFTER: AFTER is at most a tenth of BEFORE
	[ "$1" != missing ] && [ "$2" != missing ] && [ "$1" -gt 0 ] && [ $(($2 * 10)) -le "$1" ]
}
figure "L2's TSC-deadline MSR-write exits drop by >= 90% with guest_pvtimer: '$lm' -> '$pm'" \
	tenth "$lm" "$pm"
exit $rc

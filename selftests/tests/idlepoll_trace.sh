#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guest_idlepoll's trace events (tracefs events/guest_idlepoll/): under a
# message-passing load each poll starts with its window and ends as a hit
# or a miss, each halt has its duration, on every CPU in order, and the
# module's statistics counted at least what the trace saw. Disabled, they
# record nothing; the module unloads with them enabled and comes back with
# them off.
# shellcheck source=selftests/tests/idlepoll_lib.sh
. /hvkit/tests/idlepoll_lib
# shellcheck source=selftests/tests/trace_lib.sh
. /hvkit/tests/trace_lib
echo "TAP version 13"
if [ ! -d /sys/module/guest_idlepoll ]; then
	echo "not ok 1 guest_idlepoll not loaded"
	exit 1
fi
EV="guest_idlepoll/ipoll_poll_start guest_idlepoll/ipoll_poll_end guest_idlepoll/ipoll_halt"
check "tracefs mounted, guest_idlepoll's events listed" sh -c \
	". /hvkit/tests/trace_lib; trace_mount && [ -d $TR/events/guest_idlepoll/ipoll_halt ]"
# Windows TCG's wakeups fit in (idlepoll_lib), so that polls happen.
tcg_scale
hvkitctl idlepoll set max_poll_ns 10000000
echo 8192 >$TR/buffer_size_kb
# One gate (tracing_on) around the load; the statistics zeroed before it
# opens, read after it closed: they count at least what the trace saw.
echo 0 >$TR/tracing_on
check "enable ipoll_poll_start, ipoll_poll_end, ipoll_halt" trace_on $EV
hvkitctl idlepoll status --reset >/dev/null
echo 1 >$TR/tracing_on
pingpong -n 300 -t 0 | sed 's/^/# /'
sleep 0.2
echo 0 >$TR/tracing_on
polls=$(ipstat POLLS) hits=$(ipstat HITS) halts=$(ipstat HALTS)
trace_off $EV
trace_show idlepoll
grep -v '^#' $TR/trace >/tmp/ipoll.trace
n_start=$(grep -c ' ipoll_poll_start: ' /tmp/ipoll.trace)
n_end=$(grep -c ' ipoll_poll_end: ' /tmp/ipoll.trace)
n_hit=$(grep -cE ' ipoll_poll_end: .* hit$' /tmp/ipoll.trace)
n_halt=$(grep -c ' ipoll_halt: ' /tmp/ipoll.trace)
over=$(cat $TR/per_cpu/cpu*/stats | awk '$1 == "overrun:" { s += $2 } END { print s + 0 }')
echo "# events: $n_start poll_start, $n_end poll_end ($n_hit hit), $n_halt halt, overrun $over;" \
	"statistics: polls $polls, hits $hits, halts $halts"
check "no event overwritten (overrun $over)" [ "$over" = 0 ]
check "polls traced ($n_start starts, $n_end ends)" \
	eval '[ "$n_start" -gt 0 ] && [ "$n_end" -gt 0 ]'
# Per CPU: start, end, [halt], start, ... Only the gate may cut a poll:
# an end or a halt before the CPU's first start, a start after its last end.
check "per CPU: every start ends before the next, halts follow ends" sh -c \
	"sed -n 's/.*\[0*\([0-9][0-9]*\)\].* ipoll_\([a-z_]*\): .*/\1 \2/p' /tmp/ipoll.trace |
	awk '{ c = \$1 }
	     \$2 == \"poll_start\" { if (open[c]) bad++; open[c] = 1; seen[c] = 1 }
	     \$2 == \"poll_end\" { if (!open[c] && seen[c]) bad++; open[c] = 0 }
	     \$2 == \"halt\" { if (open[c]) bad++ }
	     END { if (bad) print \"# out of order: \" bad; exit bad != 0 }'"
check "ipoll_poll_start: a window" trace_has ipoll_poll_start 'window_ns=[1-9][0-9]*$'
check "ipoll_poll_end: hits under the ping-pong load ($n_hit)" \
	trace_has ipoll_poll_end 'window_ns=[1-9][0-9]* poll_ns=[0-9]+ hit$'
check "ipoll_halt: halts with their durations ($n_halt)" \
	trace_has ipoll_halt 'poll_ns=[0-9]+ halt_ns=[1-9][0-9]*$'
sed -n 's/.* ipoll_poll_end: window_ns=\([0-9]*\) poll_ns=\([0-9]*\) .*/\1 \2/p' /tmp/ipoll.trace |
	awk '{ d = $2 - $1; if (d > m) m = d } END { printf "# longest poll past its window: %d ns\n", m }'
check "statistics counted what was traced: polls $polls >= $n_end, hits $hits >= $n_hit, halts $halts >= $n_halt" \
	eval '[ "$polls" -ge "$n_end" ] && [ "$hits" -ge "$n_hit" ] && [ "$halts" -ge "$n_halt" ]'
echo 1 >$TR/tracing_on
: >$TR/trace
sleep 0.5
check "disabled: nothing recorded" sh -c "! grep -q ' ipoll_' $TR/trace"
# Unload while the events are enabled and firing on every CPU.
trace_on $EV
sleep 0.2
check "modprobe -r guest_idlepoll with its events enabled" modprobe -r guest_idlepoll
check "its events are gone with it" [ ! -d $TR/events/guest_idlepoll ]
check "modprobe guest_idlepoll: its events back, disabled" sh -c \
	"modprobe guest_idlepoll && [ \$(cat $TR/events/guest_idlepoll/ipoll_halt/enable) = 0 ]"
: >$TR/trace
exit $rc

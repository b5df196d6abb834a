#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# tracefs helpers of the trace-event tests (sourced as /hvkit/tests/trace_lib).
# shellcheck source=selftests/tests/tap_lib.sh
. /hvkit/tests/tap_lib
TR=/sys/kernel/tracing

# trace_mount: tracefs at $TR (PID 1 mounts only /sys), with record-cmd
# off. With it on, enabling the first event hooks sched_switch (to record
# task names), which patches __schedule() while the other vCPU runs it:
# under QEMU 7.2's multi-threaded TCG that can leave a vCPU looping on a
# stale INT3 (an RCU stall in __schedule, seen in group hybrid on
# 2026-12-02; tests/kvm_keeper.c has the same emulator bug). Trace lines
# then show "<...>" for task names.
trace_mount() {
	[ -d $TR/events ] || mount -t tracefs none $TR 2>/dev/null
	[ -d $TR/events ] && echo 0 >$TR/options/record-cmd
}

# trace_on SYSTEM/EVENT...: enable them, and an empty buffer.
trace_on() {
	for _e in "$@"; do
		echo 1 >"$TR/events/$_e/enable" || return 1
	done
	: >$TR/trace
}

# trace_off SYSTEM/EVENT...
trace_off() {
	for _e in "$@"; do
		echo 0 >"$TR/events/$_e/enable"
	done
}

# trace_has EVENT REGEX: a line of EVENT in the buffer whose fields match
# the extended REGEX.
trace_has() {
	grep -E " $1: (.* )?$2" $TR/trace >/dev/null
}

# trace_show PREFIX [LINES]: the buffer, as TAP comments (its first LINES
# lines, 40 by default).
trace_show() {
	grep -v '^#' $TR/trace | head -n "${2:-40}" | sed "s/^/# $1: /"
}

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# What the group's tests recorded in the trace events trace_on enabled:
# each event with its fields, then the events disabled.
# shellcheck source=selftests/tests/trace_lib.sh
. /hvkit/tests/trace_lib
echo "TAP version 13"
trace_show "${GROUP:-}"
case "${GROUP:-}" in
hybrid)
	# hybrid_vm: bind by VM fd (4 vCPUs, 2 types), CPUID 0x1A rewritten,
	# clears and restores, a parked vCPU's clear refused (-EBUSY),
	# unbind, a VM destroyed while bound.
	check "hybrid_bind: 4 vCPUs, 2 core types" trace_has hybrid_bind 'id=[0-9]+ pid=[0-9]+ vcpus=4 types=2'
	check "hybrid_override: CPUID 0x1A of a bound vCPU, EAX rewritten" \
		trace_has hybrid_override 'id=[0-9]+ vcpu=[0-3] leaf=0x1a\.0x0 eax=0x0->0x[24]000000[12] '
	check "hybrid_clear: a clear of 0x1.ECX done (ret=0)" \
		trace_has hybrid_clear 'op=clear vcpu=0x[0-9a-f]+ leaf=0x1\.0x[0-9a-f]+ reg=2 bits=0x1 ret=0'
	check "hybrid_clear: a restore done (ret=0)" trace_has hybrid_clear 'op=restore .* ret=0'
	check "hybrid_clear: a clear refused for a parked vCPU (ret=-16)" trace_has hybrid_clear 'ret=-16'
	check "hybrid_unbind: by the ioctl and by a destroyed VM" \
		sh -c "grep -q ' hybrid_unbind: .*why=unbind ioctl' $TR/trace && grep -q ' hybrid_unbind: .*why=VM destroyed' $TR/trace"
	EV="kvm_hybrid/hybrid_bind kvm_hybrid/hybrid_unbind kvm_hybrid/hybrid_override kvm_hybrid/hybrid_clear"
	;;
pvtimer)
	# pvtimer_agent (the test that plays the guest): deadlines armed
	# ahead and already past, fired never early.
	check "pvta_arm: a deadline armed ahead (past=0)" trace_has pvta_arm 'vm=[0-9]+ vcpu=[0-9]+ deadline=[0-9]+ in_ns=[0-9]+ past=0'
	check "pvta_arm: a deadline already past (past=1, in_ns <= 0)" trace_has pvta_arm 'in_ns=(-[0-9]+|0) past=1'
	check "pvta_fire: fired with its lateness (early=0)" trace_has pvta_fire 'vm=[0-9]+ vcpu=[0-9]+ deadline=[0-9]+ late_ns=[0-9]+ early=0'
	EV="pvtimer_agent/pvta_arm pvtimer_agent/pvta_fire"
	;;
*)
	echo "not ok 1 trace_check: no trace events for group '${GROUP:-}'"
	exit 1 ;;
esac
trace_off $EV
exit $rc

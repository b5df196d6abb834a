#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Enables the group's module's trace events (tracefs) for the tests that
# follow; trace_check, run after them, checks what they recorded.
# shellcheck source=selftests/tests/trace_lib.sh
. /hvkit/tests/trace_lib
echo "TAP version 13"
case "${GROUP:-}" in
hybrid)
	EV="kvm_hybrid/hybrid_bind kvm_hybrid/hybrid_unbind kvm_hybrid/hybrid_override kvm_hybrid/hybrid_clear" ;;
pvtimer)
	EV="pvtimer_agent/pvta_arm pvtimer_agent/pvta_fire" ;;
*)
	echo "not ok 1 trace_on: no trace events for group '${GROUP:-}'"
	exit 1 ;;
esac
check "tracefs mounted" trace_mount
check "enable $EV" trace_on $EV
exit $rc

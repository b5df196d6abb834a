#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Helpers of the guest_idlepoll tests (sourced as /hvkit/tests/idlepoll_lib).
# shellcheck disable=SC2034 # used by the tests that source this
P=/sys/module/guest_idlepoll/parameters
CPUSYS=/sys/devices/system/cpu
# shellcheck disable=SC2034
n=0 rc=0

check() { # check DESCRIPTION COMMAND...: one TAP line
	_desc=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n $_desc"
	else
		echo "not ok $n $_desc"
		rc=1
	fi
}

# ipstat COLUMN: a column of "hvkitctl idlepoll status", summed over CPUs.
ipstat() {
	hvkitctl idlepoll status | awk -v col="$1" '
		NR == 2 { for (i = 1; i <= NF; i++) if ($i == col) c = i }
		NR > 2 && c { s += $c }
		END { printf "%d\n", s }'
}

# state_usage CPU NAME: usage of the cpuidle state called NAME on CPU.
state_usage() {
	for s in "$CPUSYS/cpu$1"/cpuidle/state*; do
		[ "$(cat "$s/name")" = "$2" ] && { cat "$s/usage"; return; }
	done
	echo 0
}

driver() { cat "$CPUSYS/cpuidle/current_driver" 2>/dev/null; }

# mark NAME: L1 snapshots L2's KVM stats when it sees this (see hvkit-l2).
mark() {
	echo "HVKIT: mark $1" >/dev/ttyS1
	sleep 1
}

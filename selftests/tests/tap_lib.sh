#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# TAP helpers every shell test shares (sourced as /hvkit/tests/tap_lib,
# by the per-module libraries).
# shellcheck disable=SC2034 # used by the tests that source this
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

# figure DESCRIPTION COMMAND...: a check of a rate or a count that holds
# only with the machine to the VM alone: the stock and nested suites run
# such groups alone (ALONE=yes) and judge it like check. The debug suite
# runs the same load, lighter, for KASAN, lockdep and kmemleak in the
# code under load, and may run it beside another VM (DEBUG_ALONE=no):
# there the figure is only printed (EXPECT_DEBUG counts one line less).
figure() {
	if [ "${SUITE_KIND:-stock}" = debug ]; then
		_desc=$1
		shift
		if "$@"; then
			echo "# debug suite, not judged: holds: $_desc"
		else
			echo "# debug suite, not judged: does not hold: $_desc"
		fi
		return 0
	fi
	check "$@"
}

# mark NAME: in L2, L1 snapshots L2's KVM stats when it sees this, and runs
# its L2_MARK_HOOK (see hvkit-l2). It then waits MARK_WAIT_US (default 1 s)
# for L1 to take the snapshot.
mark() {
	echo "HVKIT: mark $1 ." >/dev/ttyS1
	usleep "${MARK_WAIT_US:-1000000}"
}

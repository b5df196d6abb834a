#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Helpers of the pvtimer_agent tests in L1 (sourced as /hvkit/tests/pvtimer_lib).

# pvt_wait_detached FILE TENTHS: poll the agent's status (kept in FILE)
# until no VM is attached, for up to TENTHS tenths of a second (a closed
# server's release may be deferred); succeeds when none is.
pvt_wait_detached() {
	_i=0
	while [ $_i -lt "$2" ]; do
		hvkitctl pvtimer status >"$1" 2>&1
		grep -q '^attached: *0$' "$1" && return 0
		usleep 100000
		_i=$((_i + 1))
	done
	return 1
}

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Helpers of the guest_idlepoll tests (sourced as /hvkit/tests/idlepoll_lib).
# shellcheck disable=SC2034 # used by the tests that source this
P=/sys/module/guest_idlepoll/parameters
CPUSYS=/sys/devices/system/cpu
# check, and mark (L1 snapshots L2's KVM stats): tap_lib.
# shellcheck source=selftests/tests/tap_lib.sh
. /hvkit/tests/tap_lib

# ipstat COLUMN [CPU]: a column of "hvkitctl idlepoll status", summed over
# CPUs, or CPU's value (a trailing % dropped).
ipstat() {
	hvkitctl idlepoll status | awk -v col="$1" -v cpu="${2:-}" '
		NR == 2 { for (i = 1; i <= NF; i++) if ($i == col) c = i }
		NR > 2 && c && cpu != "" && $1 == cpu { sub(/%$/, "", $c); print $c; exit }
		NR > 2 && c { s += $c }
		END { if (cpu == "") printf "%d\n", s }'
}

# state_usage CPU NAME: usage of the cpuidle state called NAME on CPU.
state_usage() {
	for s in "$CPUSYS/cpu$1"/cpuidle/state*; do
		[ "$(cat "$s/name")" = "$2" ] && { cat "$s/usage"; return; }
	done
	echo 0
}

driver() { cat "$CPUSYS/cpuidle/current_driver" 2>/dev/null; }

# Parameters for nested TCG, where everything runs 100-1000 times slower
# than on hardware: an L2 round trip through HLT takes milliseconds, so the
# default windows (<= 200 us) and benefit (20 us) never make polling pay.
# Scaled: windows up to 2 ms, a halt worth 1 ms. steal_pct=0: L1 has two
# vCPUs for L2's two plus QEMU and the test harness, so L2 always sees
# steal time and the (correct) back-off would hide the mechanism.
tcg_defaults() { # back to the module's defaults
	for kv in max_poll_ns=200000 benefit_ns=0 cost_pct=100 steal_pct=10; do
		hvkitctl idlepoll set "${kv%%=*}" "${kv#*=}" || return 1
	done
}

tcg_scale() {
	for kv in max_poll_ns=2000000 benefit_ns=1000000 cost_pct=10 steal_pct=0; do
		hvkitctl idlepoll set "${kv%%=*}" "${kv#*=}" || return 1
	done
}

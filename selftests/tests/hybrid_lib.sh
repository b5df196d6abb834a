#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Helpers of the kvm_hybrid shell tests (sourced as /hvkit/tests/hybrid_lib).
# shellcheck source=selftests/tests/tap_lib.sh
. /hvkit/tests/tap_lib

# The profile of the end-to-end test: vCPU 0 a P-core, vCPU 1 an E-core.
write_profile() {
	cat >"$1" <<'PROF'
# hvkit hybrid profile: one P-core and one E-core
type P
    intel 0x40 0x1         # 0x1A: Core, native model 1
    amd 0 200              # 0x80000026: performance, rank 200
    freq 2000 5000 100     # 0x16: base, max, bus MHz
    pmu 5 8 48 3 48 events 0 fixed 0x7
    cache L1d 48K 12 64 1
    cache L1i 32K 8 64 1
    cache L2 1280K 8 64 1
type E
    intel 0x20 0x2         # 0x1A: Atom, native model 2
    amd 1 100
    freq 2000 3800 100     # same base on every type
    pmu 5 6 48 3 48 events 0x40 fixed 0x7
    cache L1d 32K 8 64 1
    cache L1i 48K 8 64 1
    cache L2 2M 16 64 1
vcpus P E
PROF
}

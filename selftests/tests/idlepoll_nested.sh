#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# L1 side of the guest_idlepoll nested test: boot L2 (idlepoll_l2 runs the
# same ping-pong load without and with the module) and compare the halt
# exits L1's KVM counted for L2 in each run, from the snapshots hvkit-l2
# took at L2's marks.
# check and figure: tap_lib.
# shellcheck source=selftests/tests/tap_lib.sh
. /hvkit/tests/tap_lib
echo "TAP version 13"
# The mark hook pins L2's vCPUs to one L1 CPU for idlepoll_l2's steal run.
L2_MARK_HOOK=/hvkit/tests/idlepoll_markhook hvkit-l2
rc=$?
sed 's/^/# markhook.log: /' /tmp/l2/markhook.log 2>/dev/null
delta() { # delta STAT FROM TO
	awk -v s="$1" -v a="$2" -v b="$3" '
		$2 == s && $1 == a { x = $3 } $2 == s && $1 == b { y = $3 }
		END { if (x == "" || y == "") print "missing"; else print y - x }' /tmp/l2/marks
}
hh=$(delta halt_exits hlt-start hlt-end)
ih=$(delta halt_exits ipoll-start ipoll-end)
ah=$(delta halt_exits adaptive-start adaptive-end)
he=$(delta exits hlt-start hlt-end)
ie=$(delta exits ipoll-start ipoll-end)
ae=$(delta exits adaptive-start adaptive-end)
echo "# L1 KVM, L2 ping-pong run without module: halt_exits $hh, exits $he"
echo "# L1 KVM, L2 ping-pong run with guest_idlepoll (haltpoll): halt_exits $ih, exits $ie"
echo "# L1 KVM, L2 ping-pong run with guest_idlepoll (adaptive): halt_exits $ah, exits $ae"
# Exit reasons (SVM exit codes: 0x060 INTR, 0x064 VINTR, 0x077 PAUSE,
# 0x078 HLT, 0x07b IOIO, 0x07c MSR, 0x081 VMMCALL, 0x400 NPF).
# MSRs: 0x6e0 TSC_DEADLINE, 0x830 x2APIC ICR (IPIs), 0x80b EOI.
for c in $(awk '$2 ~ /^(exit|msr)_0x/ { print $2 }' /tmp/l2/marks | sort -u); do
	a=$(delta "$c" hlt-start hlt-end) b=$(delta "$c" ipoll-start ipoll-end)
	d=$(delta "$c" adaptive-start adaptive-end)
	[ "$a$b$d" = 000 ] ||
		echo "# exits by reason: $c without $a, with haltpoll $b, adaptive $d"
done
n=999
halved() { # halved BEFORE AFTER: AFTER is less than half of BEFORE
	[ "$1" != missing ] && [ "$2" != missing ] && [ "$1" -gt 0 ] && [ $(($2 * 2)) -lt "$1" ]
}
for run in "haltpoll $ih" "adaptive $ah"; do
	set -- $run
	figure "L2 halt exits drop by half with guest_idlepoll policy=$1: '$hh' -> '$2'" \
		halved "$hh" "$2"
done
if [ "${SUITE_KIND:-stock}" = debug ]; then
	# The refusal below is tested by the stock kernel's L2 (nested
	# suite); the debug suite saves a second boot of a debug L2.
	echo "# debug suite: no second L2 boot (haltpoll driver refusal)"
	exit $rc
fi
# Second L2 boot: the kernel's haltpoll driver owns cpuidle.
if ! L2_APPEND="cpuidle_haltpoll.force=1" hvkit-l2 >/tmp/l2.busy 2>&1; then
	rc=1
	tr -d '\r' </tmp/l2/console.log | tail -n 8 | sed 's/^/# l2-haltpoll console tail: /'
fi
sed -nE 's/^(ok|not ok) ([0-9]+) l2\//\1 \2 l2-haltpoll\//p; /^not ok 99[0-9]/p' /tmp/l2.busy
grep '^# hvkit-l2' /tmp/l2.busy
exit $rc

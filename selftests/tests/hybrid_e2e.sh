#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# kvm_hybrid end to end (L1 side): an unmodified QEMU starts L2 paused (-S),
# "hvkitctl hybrid bind PID" binds it to a P + E profile, QEMU resumes, and
# L2 (hybrid_l2) checks what each of its vCPUs and its kernel see.
# shellcheck source=selftests/tests/hybrid_lib.sh
. /hvkit/tests/hybrid_lib
echo "TAP version 13"
write_profile /tmp/hybrid.prof
# The host profiler: L1's CPU 1, read on CPU 1, as a profile block.
hvkitctl hybrid host-profile 1 >/tmp/host.prof
sed 's/^/# host-profile 1: /' /tmp/host.prof
check "host-profile 1: a core type named cpu1 with its caches" \
	sh -c 'head -n1 /tmp/host.prof | grep -qx "type cpu1" && grep -q "^    cache L1d " /tmp/host.prof'
dmesg -c >/dev/null
hvkitctl hybrid host-profile 4096 >/tmp/hp.out 2>&1
hp=$?
sed 's/^/# host-profile 4096: /' /tmp/hp.out
check "host-profile of an absent CPU refused by the kernel: EINVAL, and the log says why" \
	sh -c "[ $hp = 1 ] && grep -q 'host-profile 4096: Invalid argument' /tmp/hp.out &&
		dmesg | grep -q 'kvm_hybrid: host profile: CPU 4096 is not online'"
check "hvkitctl hybrid check accepts the profile" \
	sh -c 'hvkitctl hybrid check /tmp/hybrid.prof >/dev/null'
L2_PAUSED_HOOK=/hvkit/tests/hybrid_hook L2_MARK_HOOK=/hvkit/tests/hybrid_markhook hvkit-l2
l2=$?
if [ $l2 != 0 ]; then
	rc=1
	# What L1's KVM counted for L2 before hvkit-l2 gave up (a stalled L2).
	grep -E '^(exits|halt_exits|insn_emulation|irq_exits|signal_exits|request_irq_exits) ' \
		/tmp/l2/stats | sed 's/^/# L1 KVM stats of L2: /'
	tail -n 5 /tmp/l2/console.log | sed 's/^/# L2 console tail: /'
fi
sed 's/^/# hook: /' /tmp/l2/hook.log
sed 's/^/# mark hook: /' /tmp/l2/markhook.log 2>/dev/null
check "L2's QEMU bound by pid while paused" [ "$(cat /tmp/l2/hook.rc)" = 0 ]
# hvkit-l2 has killed QEMU: the VM is gone, and its binding with it.
i=0
while [ $i -lt 50 ] && hvkitctl hybrid status | grep -q '^[0-9]'; do
	usleep 100000
	i=$((i + 1))
done
check "binding dropped when QEMU exited" sh -c '! hvkitctl hybrid status | grep -q "^[0-9]"'
dmesg | grep 'kvm_hybrid:' | sed 's/^/# /'
exit $rc

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# hvkit-l2's paused hook of the kvm_hybrid end-to-end test: QEMU (pid $1)
# has created the L2 VM and its vCPUs but not run them. Bind it by pid and
# drive the rest of the command line on it; any failure fails the hook.
set -e
id=$(hvkitctl hybrid bind "$1" /tmp/hybrid.prof)
echo "bound: id $id"
# For the mark hook (hybrid_markhook): changes while L2 runs.
echo "$id" >/tmp/hybrid.id
hvkitctl hybrid status
# Online feature control through the tool, undone before L2 runs.
hvkitctl hybrid clear "$id" 0x7.0 edx 0x8000 1
hvkitctl hybrid restore "$id" 0x7.0 edx 0x8000 1
if hvkitctl hybrid clear "$id" 0x80000008 eax 0xff 2>/tmp/refused; then
	echo "MAXPHYADDR clear was accepted"
	exit 1
fi
grep MAXPHYADDR /tmp/refused
dmesg | grep 'kvm_hybrid: audit:'
# Pool baseline: the VM against this host's KVM, then against a host
# without the lowest 0x1.ECX feature the VM has.
hvkitctl hybrid features "$id" 1 >/tmp/vm.feat
hvkitctl hybrid supported >/tmp/host.feat
# Against the host alone: the profile's own bits (7.EDX[15] hybrid, ...)
# are not in KVM_GET_SUPPORTED_CPUID, so this one may list some.
hvkitctl hybrid compare /tmp/vm.feat /tmp/host.feat || true
v=$(awk '$1 == "0x1.0" && $2 == "ecx" { print $3 }' /tmp/vm.feat)
h=$(awk '$1 == "0x1.0" && $2 == "ecx" { print $3 }' /tmp/host.feat)
old=$(printf '%#010x' $((h & ~(v & -v))))
sed "s/^0x1\.0 ecx .*/0x1.0 ecx $old/" /tmp/host.feat >/tmp/old.feat
if hvkitctl hybrid compare /tmp/vm.feat /tmp/host.feat /tmp/old.feat >/tmp/cmp; then
	echo "a VM with a bit the older host lacks was called compatible"
	exit 1
fi
cat /tmp/cmp
m=$(awk '$1 == "missing" && $2 == "0x1.0" && $3 == "ecx" { print $4 }' /tmp/cmp)
[ -n "$m" ] && [ $((m & v & -v)) -ne 0 ]
hvkitctl hybrid baseline /tmp/host.feat /tmp/old.feat | head -n 2
# vPMU: the E-core (type 1) loses all but one event; the filter for QEMU.
# Where no E vCPU has a vPMU that leaf 0xA describes (as the module read
# it at bind: an AMD host, enable_pmu=0, a VMM without a vPMU) the change
# must be refused, never shown to the guest.
sed 's/^/# bindings: /' /sys/kernel/debug/kvm_hybrid/bindings
if grep ' type E vpmu ' /sys/kernel/debug/kvm_hybrid/bindings | grep -qv 'vpmu none'; then
	hvkitctl hybrid pmu "$id" 1 6 0xfe 0x7
	hvkitctl hybrid pmu "$id" 1 6 0x40 0x7
elif hvkitctl hybrid pmu "$id" 1 6 0xfe 0x7; then
	echo "a vPMU change was accepted for E vCPUs that have no vPMU leaf 0xA"
	exit 1
fi

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The devices a test group can ask QEMU for are really there: an Intel
# IOMMU (DMAR), a virtio device behind a PCIe root port with a function
# reset, and an ivshmem-doorbell device with its shared memory BAR and
# MSI-X. Used by the "devices" group; see its QEMU_ARGS.
echo "TAP version 13"
rc=0
ok() { echo "ok $1 $2"; }
bad() { echo "not ok $1 $2"; rc=1; }

if [ -e /sys/class/iommu/dmar0 ]; then ok 1 "intel-iommu: dmar0"; else bad 1 "intel-iommu: no dmar0"; fi

for d in /sys/bus/pci/devices/*; do echo "# pci $(basename "$d") $(cat "$d/vendor"):$(cat "$d/device") class $(cat "$d/class")"; done
found=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor")" = 0x1af4 ] || continue
	case "$(cat "$d/device")" in 0x1005|0x1044) ;; *) continue ;; esac
	parent=$(basename "$(dirname "$(readlink -f "$d")")")
	pclass=$(cat "/sys/bus/pci/devices/$parent/class" 2>/dev/null)
	echo "# virtio-rng $(basename "$d") behind $parent (class $pclass), reset_method: $(cat "$d/reset_method" 2>/dev/null)"
	case "$pclass" in 0x0604*) found=$d ;; esac
done
if [ -n "$found" ]; then ok 2 "virtio device behind a PCIe root port"; else bad 2 "no virtio device behind a root port"; fi
if [ -n "$found" ] && grep -qw flr "$found/reset_method"; then
	ok 3 "virtio device has a function-level reset"
else
	bad 3 "virtio device has no FLR reset_method"
fi

iv=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x1af4:0x1110 ] && iv=$d
done
if [ -n "$iv" ]; then
	# BAR2 is the shared memory; its size is what the host server made.
	# shellcheck disable=SC2046
	set -- $(sed -n '3p' "$iv/resource")
	size=$(($2 - $1 + 1))
	echo "# ivshmem $(basename "$iv"): BAR2 $size bytes, irq $(cat "$iv/irq")"
	if [ "$size" = "${IVSHMEM_BYTES:-1048576}" ]; then
		ok 4 "ivshmem-doorbell: shared memory BAR2 of $size bytes"
	else
		bad 4 "ivshmem-doorbell: BAR2 is $size bytes"
	fi
else
	bad 4 "no ivshmem device (1af4:1110)"
fi
exit $rc

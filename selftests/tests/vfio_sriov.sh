#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Group vfio-sriov: the passthrough devices of real hosts. An SR-IOV VF of
# QEMU's nvme (Debian's nvme driver on the PF) is bound to vfio_preserve,
# armed, and kept over close/open with no reset (ftrace witness), but
# gets no kram record (the next kernel's sriov_init() clears VF Enable);
# its PF disabling SR-IOV under it removes it cleanly. A multi-function
# card whose functions share one IOMMU group (no ACS) is refused, with
# the reason in the log.
# shellcheck source=selftests/tests/vfio_lib.sh
. /hvkit/tests/vfio_lib
echo "TAP version 13"
W=/tmp/vfio_sriov
mkdir -p $W

PF='' MF0='' MF1=''
for d in "$PCI"/*; do
	case "$(cat "$d/vendor"):$(cat "$d/device")" in
	0x1b36:0x0010) [ -e "$d/sriov_totalvfs" ] && PF=$(basename "$d") ;;
	0x1af4:0x1005 | 0x1af4:0x1044)
		case "$(basename "$d")" in
		*.0) MF0=$(basename "$d") ;;
		*.1) MF1=$(basename "$d") ;;
		esac ;;
	esac
done
[ -n "$PF" ] || { echo "not ok 1 the group's nvme PF with SR-IOV: not found"; exit 1; }
echo "# PF $PF: driver $(driver_of "$PF"), sriov_totalvfs $(cat "$PCI/$PF/sriov_totalvfs"), reset_method $(cat "$PCI/$PF/reset_method" 2>/dev/null)"
check "the nvme driver owns the PF $PF" [ "$(driver_of "$PF")" = nvme ]
check "VFs are not probed by their native driver (sriov_drivers_autoprobe=0)" \
	sh -c "echo 0 >$PCI/$PF/sriov_drivers_autoprobe"
check "enable 2 VFs (sriov_numvfs)" sh -c "echo 2 >$PCI/$PF/sriov_numvfs"
VF=$(basename "$(readlink "$PCI/$PF/virtfn0")")
VF1=$(basename "$(readlink "$PCI/$PF/virtfn1")")
echo "# VFs $VF $VF1: groups $(basename "$(readlink "$PCI/$VF/iommu_group")") $(basename "$(readlink "$PCI/$VF1/iommu_group")"), reset_method $(cat "$PCI/$VF/reset_method" 2>/dev/null)"
check "VF $VF is alone in its IOMMU group (ACS on the root port)" [ "$(group_size "$VF")" = 1 ]
check "bind VF $VF to vfio_preserve" hvkitctl vfio bind "$VF"

reset_trace_on
vfio_dev time "$VF" 1 >$W/plain 2>&1
check "VF disarmed: close/open through VFIO works" [ "$(field n $W/plain)" = 1 ]
check "VF disarmed: ftrace saw its resets ($(reset_calls))" [ "$(reset_calls)" -ge 2 ]
reset_trace_show

dmesg -c >/dev/null
check "arm VF $VF (sysfs preserve=1)" sh -c "echo 1 >$PCI/$VF/preserve"
check "VF armed: kept has no_reset ($(status_field "$VF" kept_names))" kept_has "$VF" no_reset
no_record() { ! kept_has "$VF" kexec && [ "$(status_field "$VF" slot)" = -1 ]; }
check "VF armed: no kram record, kept has no kexec (slot $(status_field "$VF" slot))" no_record
check "the log says a VF is kept over close/open only, and why" \
	sh -c "dmesg | grep -q 'an SR-IOV VF: preserve holds over close/open only; a kexec resets every VF'"
s0=$(status_field "$VF" resets_skipped)
reset_trace_clear
vfio_dev time "$VF" 2 >$W/armed 2>&1
check "VF armed: close/open through VFIO works" [ "$(field n $W/armed)" = 2 ]
check "VF armed: ftrace saw no reset function called ($(reset_calls))" [ "$(reset_calls)" = 0 ]
check "VF armed: resets_skipped $s0 -> $(status_field "$VF" resets_skipped) (2 opens, 2 closes)" \
	[ "$(status_field "$VF" resets_skipped)" = $((s0 + 4)) ]
reset_trace_show
reset_trace_off
rec=$(grep -c . /sys/kernel/debug/vfio_preserve/devices 2>/dev/null)
grep . /sys/kernel/debug/vfio_preserve/devices 2>/dev/null | sed 's/^/# debugfs: /'
check "the early-claim configuration names no driver for an armed VF" \
	sh -c "HVKIT_MODPROBE_D=$W hvkitctl vfio early-claim >$W/claim 2>&1 &&
		grep -q 'no device armed for vfio_preserve needs an early claim' $W/claim &&
		! grep -q softdep $W/hvkit-vfio-preserve.conf 2>/dev/null"
sed 's/^/# early-claim: /' $W/claim

# The PF disables SR-IOV under the armed VF: the VF goes away, and with
# it our device, without an oops or a leak.
dmesg -c >/dev/null
check "PF disables SR-IOV while VF $VF is armed (sriov_numvfs=0)" sh -c "echo 0 >$PCI/$PF/sriov_numvfs"
check "VF $VF is gone" [ ! -e "$PCI/$VF" ]
check "the log says the VF was unbound while armed (no record to erase)" \
	sh -c "dmesg | grep -q 'unbound while armed: preserve disarmed\$'"
dmesg | grep -i 'vfio\|nvme' | sed 's/^/# /'
check "vfio_preserve holds no device now (debugfs: ${rec:-?} before)" \
	sh -c "! grep -q '$VF' /sys/kernel/debug/vfio_preserve/devices"

# A multi-function card without ACS: both functions in one group.
if [ -z "$MF0" ] || [ -z "$MF1" ]; then
	echo "not ok 99 the group's multi-function virtio card: not found"
	exit 1
fi
echo "# multi-function $MF0 $MF1: groups $(basename "$(readlink "$PCI/$MF0/iommu_group")") $(basename "$(readlink "$PCI/$MF1/iommu_group")")"
check "functions $MF0 and $MF1 share one IOMMU group (no ACS)" [ "$(group_size "$MF0")" = 2 ]
check "bind function $MF0 to vfio_preserve" hvkitctl vfio bind "$MF0"
dmesg -c >/dev/null
check "arming $MF0 is refused" sh -c "! echo 1 >$PCI/$MF0/preserve 2>/dev/null"
check "the log says why (its IOMMU group has other devices)" \
	sh -c "dmesg | grep -q 'preserve refused: its IOMMU group has other devices'"
check "$MF0 stays disarmed" [ "$(cat "$PCI/$MF0/preserve")" = 0 ]
check "unbind $MF0" hvkitctl vfio unbind "$MF0"
exit $rc

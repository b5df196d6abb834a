#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Group vfio-pt (iommu=pt): kexec_keep_master=1 is refused through sysfs
# and ignored as a load-time option, each with the reason in the log; an
# armed device keeps no bus master (nothing translates its DMA).
# shellcheck source=selftests/tests/vfio_lib.sh
. /hvkit/tests/vfio_lib
echo "TAP version 13"
P=/sys/module/vfio_preserve/parameters/kexec_keep_master
dmesg | grep -i 'default domain type' | sed 's/^/# /'
check "the IOMMU's default domain is passthrough" sh -c "dmesg | grep -q 'Default domain type: Passthrough'"
check "kexec_keep_master=1 through sysfs is refused" sh -c "! echo 1 >$P 2>/dev/null"
check "it stays N" [ "$(cat $P)" = N ]
check "the log says why" sh -c "dmesg | grep -q 'kexec_keep_master=1 refused: the IOMMU.s default domain is passthrough'"
check "kexec_keep_master=0 is accepted" sh -c "echo 0 >$P"
check "rmmod vfio_preserve" rmmod vfio_preserve
dmesg -c >/dev/null
check "modprobe vfio_preserve kexec_keep_master=1 still loads" modprobe vfio_preserve kexec_keep_master=1
check "the option was ignored (N), with the reason in the log" sh -c \
	"[ \"\$(cat $P)\" = N ] && dmesg | grep -q 'kexec_keep_master=1 refused'"
vfio_devices
check "bind $DEV" hvkitctl vfio bind "$DEV"
check "arm $DEV" hvkitctl vfio preserve "$DEV"
hvkitctl vfio status "$DEV" | sed 's/^/# /'
check "armed without bus master kept (kept: $(status_field "$DEV" kept_names))" sh -c \
	"kept_has() { sed -n 's/^kept_names //p' $PCI/$DEV/preserve_status | grep -qw \$1; }; kept_has no_reset && ! kept_has master"
check "the log says why" sh -c "dmesg | grep -q 'does not translate this device.s DMA (passthrough or no domain): bus master is not kept'"
check "disarm and unbind" sh -c "hvkitctl vfio preserve $DEV off && hvkitctl vfio unbind $DEV"
exit $rc

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vfio_preserve across a real kexec of L1 (listed as "kexec:vfio_kexec"):
# stage1 binds the virtio device to vfio_preserve, arms preserve and
# writes virtio state through VFIO; stage2 (the next kernel) finds the
# device bound by vfio_preserve from its kram record, without anyone
# binding it and without a reset, and reads the state back.
# What a kexec loses is measured, not assumed: pci_device_shutdown()
# clears bus master on every device (vfio_preserve keeps it only with
# kexec_keep_master=1, which vfio_kexec_master uses), and QEMU's virtio
# device drops DRIVER_OK when bus master goes off.
# shellcheck source=selftests/tests/vfio_lib.sh
. /hvkit/tests/vfio_lib
echo "TAP version 13"
d=/hvkit/vfio_kexec	# outside /tmp: carried into the next boot
keep=${KEEP_MASTER:-0}
case "$1" in
stage1)
	rm -rf $d && mkdir -p $d
	vfio_devices
	echo "$DEV" >$d/dev
	check "kram has a region" [ "$(cat /sys/class/misc/kram/state)" = attached ]
	check "bind $DEV to vfio_preserve" hvkitctl vfio bind "$DEV"
	check "arm preserve" hvkitctl vfio preserve "$DEV"
	echo "$keep" >/sys/module/vfio_preserve/parameters/kexec_keep_master
	check "kexec_keep_master=$keep" [ "$(cat /sys/module/vfio_preserve/parameters/kexec_keep_master)" = "$([ "$keep" = 1 ] && echo Y || echo N)" ]
	vfio_dev write "$DEV" >$d/w 2>&1
	vfio_dev read "$DEV" >$d/r1 2>&1
	echo "# before kexec: $(tr '\n' ' ' <$d/r1)"
	check "state written and kept over close/open (status $(field status $d/r1))" [ "$(field status $d/r1)" = 0xf ]
	hvkitctl vfio status "$DEV" | sed 's/^/# /'
	check "the record is in kram (kept has kexec)" kept_has "$DEV" kexec
	;;
stage2)
	DEV=$(cat $d/dev)
	dmesg | grep vfio_preserve | sed 's/^/# /'
	check "after kexec $DEV is bound to vfio_preserve by the module itself" [ "$(driver_of "$DEV")" = vfio_preserve ]
	check "driver_override names vfio_preserve" [ "$(cat "$PCI/$DEV/driver_override")" = vfio_preserve ]
	check "preserve is armed from the record" [ "$(cat "$PCI/$DEV/preserve")" = 1 ]
	check "preserve_status: restored 1" [ "$(status_field "$DEV" restored)" = 1 ]
	reset_trace_on
	vfio_dev read "$DEV" >$d/r2 2>&1
	echo "# after kexec:  $(tr '\n' ' ' <$d/r2)"
	hvkitctl vfio status "$DEV" | sed 's/^/# /'
	reset_trace_show
	check "no reset function called by the first open/close ($(reset_calls))" [ "$(reset_calls)" = 0 ]
	reset_trace_off
	for f in queue_desc queue_driver queue_device; do
		check "$f kept across kexec ($(field $f $d/r2))" [ "$(field $f $d/r2)" = "$(field $f $d/r1)" ]
	done
	st=$(field status $d/r2)
	check "virtio ACKNOWLEDGE|DRIVER|FEATURES_OK kept across kexec (status $st)" [ $((st & 0xb)) = 11 ]
	if [ "$keep" = 1 ]; then
		check "kexec_keep_master=1: bus master never went off, DRIVER_OK kept (status $st)" [ "$st" = 0xf ]
	else
		check "kexec_keep_master=0: shutdown cleared bus master, the device dropped DRIVER_OK (status $st)" [ "$st" = 0xb ]
	fi
	cmd=$(field command $d/r2)
	check "Command register has bus master and memory again after the restore ($cmd)" [ $((cmd & 6)) = 6 ]
	echo "# config dwords differing from the record: $(status_field "$DEV" restore_diff_before) before restore, $(status_field "$DEV" restore_diff_after) after"
	check "restore_pending cleared by the first open" [ "$(status_field "$DEV" restore_pending)" = 0 ]
	check "disarm" hvkitctl vfio preserve "$DEV" off
	check "unbind" hvkitctl vfio unbind "$DEV"
	rm -rf $d
	;;
*)
	echo "usage: $0 stage1|stage2" >&2
	exit 2
	;;
esac
exit $rc

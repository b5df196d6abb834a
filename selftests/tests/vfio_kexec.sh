#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vfio_preserve across a real kexec of L1 (listed as "kexec:vfio_kexec"):
# stage1 binds the virtio device to vfio_preserve, arms preserve and runs
# its queue 0 through VFIO (the device DMAs into a kram area), also after
# a close/open; stage2 (the next kernel) finds the device bound by
# vfio_preserve from its kram record, without anyone binding it and
# without a reset, reads the state back and has the device DMA again into
# the same kram pages through the new kernel's IOMMU mapping; disarmed,
# the next open resets it. A second device (DEV2, the first kexec only)
# is bound and runs its queue too, held open by its VMM through the kexec
# (so no close reset it), but is never armed: vfio_preserve keeps no
# record of it, so the next kernel leaves it to its native driver, and
# its next VFIO user finds it reset (a scrub between tenants).
# What a kexec loses is measured, not assumed: pci_device_shutdown()
# clears bus master on every device (vfio_preserve keeps it only with
# kexec_keep_master=1, which vfio_kexec_master uses), and QEMU's virtio
# device drops DRIVER_OK when bus master goes off.
# shellcheck source=selftests/tests/vfio_lib.sh
. /hvkit/tests/vfio_lib
echo "TAP version 13"
d=/hvkit/vfio_kexec	# outside /tmp: carried into the next boot
keep=${KEEP_MASTER:-0}
conf=/etc/modprobe.d/hvkit-vfio-preserve.conf
RAM=/dev/kram_areas/dmaram
# Early claim: PID 1 loaded drivers by modalias (COLDPLUG) and the native
# driver is a module, as on a host (the stock kernel; the debug one has
# virtio_pci built in and blacklisted instead).
coldplug=no
[ -n "${COLDPLUG:-}" ] && [ -e /sys/module/virtio_pci/initstate ] && coldplug=yes
# modline NAME: line number of module NAME in /proc/modules (the newest
# first), or 0.
modline() { awk -v m="$1" '$1 == m { print NR; f = 1; exit } END { if (!f) print 0 }' /proc/modules; }
case "$1" in
stage1)
	rm -rf $d && mkdir -p $d
	vfio_devices
	echo "$DEV" >$d/dev
	check "kram has a region" [ "$(cat /sys/class/misc/kram/state)" = attached ]
	if [ $coldplug = yes ]; then
		check "coldplug: virtio_pci has $DEV before the bind" [ "$(driver_of "$DEV")" = virtio-pci ]
		check "no early-claim configuration while nothing is armed" [ ! -e $conf ]
	fi
	check "bind $DEV to vfio_preserve" hvkitctl vfio bind "$DEV"
	check "arm preserve" hvkitctl vfio preserve "$DEV"
	if [ $coldplug = yes ]; then
		sed 's/^/# /' $conf
		check "early claim: arming wrote softdep virtio_pci pre: vfio_preserve" \
			grep -q '^softdep virtio_pci pre: vfio_preserve' $conf
	fi
	echo "$keep" >/sys/module/vfio_preserve/parameters/kexec_keep_master
	check "kexec_keep_master=$keep" [ "$(cat /sys/module/vfio_preserve/parameters/kexec_keep_master)" = "$([ "$keep" = 1 ] && echo Y || echo N)" ]
	if [ "$keep" = 0 ]; then
		# A device that does DMA: queue 0 runs in "guest RAM" in a kram area
		# (it outlives the process and the kernel); each vfio_dev run maps it
		# for the device again, as a restarted VMM does.
		check "create the guest-RAM area 'dmaram' (16 KiB)" hvkitctl kram create dmaram 16K
		vfio_dev dma "$DEV" $RAM start >$d/dma1 2>&1
		echo "# dma start: $(tr '\n' ' ' <$d/dma1)"
		check "DMA: the device wrote request 0 into the area (used $(field used_idx $d/dma1))" \
			[ "$(field landed $d/dma1)/$(field used_idx $d/dma1)" = 1/1 ]
		vfio_dev dma "$DEV" $RAM next >$d/dma2 2>&1
		echo "# dma after close/open: $(tr '\n' ' ' <$d/dma2)"
		check "DMA after an armed close/open: request 1 landed through the new mapping (used $(field used_idx $d/dma2))" \
			[ "$(field landed $d/dma2)/$(field used_idx $d/dma2)/$(field status $d/dma2)" = 1/2/0xf ]
	else
		# kexec_keep_master=1 is for a quiesced device: no queue
		# running. With one, the debug kernel's run showed QEMU's
		# virtio device set NEEDS_RESET after the kexec (it re-translates
		# its rings when the IOMMU tables change while it masters the
		# bus, and the new kernel has no mapping for them).
		vfio_dev write "$DEV" >$d/w 2>&1
	fi
	if [ "$keep" = 0 ] && [ -n "$DEV2" ]; then
		echo "$DEV2" >$d/dev2
		check "bind $DEV2 to vfio_preserve, never armed" sh -c \
			"hvkitctl vfio bind $DEV2 && [ \$(cat $PCI/$DEV2/preserve) = 0 ]"
		check "create its guest-RAM area 'scrubram' (16 KiB)" hvkitctl kram create scrubram 16K
		# A VMM still running at the kexec: the device stays open, so no
		# close resets it; only the next kernel's first open can.
		vfio_dev dma "$DEV2" /dev/kram_areas/scrubram hold >$d/u1 2>&1 &
		i=0
		while [ $i -lt 300 ] && ! grep -q '^held=1' $d/u1; do
			sleep 0.1
			i=$((i + 1))
		done
		echo "# $DEV2 dma start, held open: $(tr '\n' ' ' <$d/u1)"
		check "DMA on $DEV2: its queue runs (used $(field used_idx $d/u1), status $(field status $d/u1)), kept open through the kexec" \
			[ "$(field landed $d/u1)/$(field used_idx $d/u1)/$(field held $d/u1)" = 1/1/1 ]
		check "$DEV2 unarmed: no record slot (slot $(status_field "$DEV2" slot)), kept has no kexec" \
			sh -c "[ '$(status_field "$DEV2" slot)' = -1 ] && ! grep -q 'kept_names.* kexec' $PCI/$DEV2/preserve_status"
	fi
	vfio_dev read "$DEV" >$d/r1 2>&1
	echo "# before kexec: $(tr '\n' ' ' <$d/r1)"
	check "state written and kept over close/open (status $(field status $d/r1))" [ "$(field status $d/r1)" = 0xf ]
	hvkitctl vfio status "$DEV" | sed 's/^/# /'
	check "the record is in kram (kept has kexec)" kept_has "$DEV" kexec
	;;
stage2)
	vfio_devices
	DEV=$(cat $d/dev)
	dmesg | grep vfio_preserve | sed 's/^/# /'
	if [ $coldplug = yes ]; then
		sed 's/^/# /' /tmp/coldplug.log
		echo "# /proc/modules (newest first): $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
		check "coldplug loaded virtio_pci, the native driver ($PAIR1: $(driver_of "$PAIR1"))" \
			[ "$(driver_of "$PAIR1")" = virtio-pci ]
		pl=$(modline virtio_pci) vl=$(modline vfio_preserve)
		check "its softdep loaded vfio_preserve before it (lines $vl, $pl of /proc/modules)" \
			sh -c '[ "$1" -gt 0 ] && [ "$2" -gt "$1" ]' - "$pl" "$vl"
	fi
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
	if [ "$keep" = 1 ]; then
		check "Command register has bus master (kept) and memory after the restore ($cmd)" [ $((cmd & 6)) = 6 ]
	else
		check "the first open restored memory decode, not bus master: that waits for the VMM ($cmd)" [ $((cmd & 6)) = 2 ]
	fi
	if [ "$keep" = 0 ]; then
		vfio_dev dma "$DEV" $RAM next >$d/dma3 2>&1
		echo "# dma after kexec: $(tr '\n' ' ' <$d/dma3)"
		check "DMA after the kexec: request 2 landed in the kram page through the new kernel's mapping (used $(field used_idx $d/dma3))" \
			[ "$(field landed $d/dma3)/$(field used_idx $d/dma3)" = 1/3 ]
		check "the VMM turned bus master on and set DRIVER_OK again, the queue resumed where it stopped" \
			[ "$(field bus_master_set_again $d/dma3)/$(field driver_ok_set_again $d/dma3)" = 1/1 ]
	fi
	echo "# config dwords differing from the record: $(status_field "$DEV" restore_diff_before) before restore, $(status_field "$DEV" restore_diff_after) after"
	check "restore_pending cleared by the first open" [ "$(status_field "$DEV" restore_pending)" = 0 ]
	check "disarm" hvkitctl vfio preserve "$DEV" off
	if [ "$keep" = 0 ]; then
		vfio_dev dma "$DEV" $RAM next >$d/dma4 2>&1
		echo "# dma disarmed: $(tr '\n' ' ' <$d/dma4)"
		check "disarmed: the open reset the device (status $(field status $d/dma4)), no DMA" \
			[ "$(field status $d/dma4)/$(field landed $d/dma4)" = 0x0/0 ]
	fi
	[ $coldplug = yes ] &&
		check "early claim: disarming the last device removed $conf" [ ! -e $conf ]
	check "unbind" hvkitctl vfio unbind "$DEV"
	[ "$keep" = 0 ] && check "delete the guest-RAM area" hvkitctl kram delete dmaram
	if [ -f $d/dev2 ]; then
		DEV2=$(cat $d/dev2)
		check "unarmed $DEV2 was not claimed: its native driver has it ($(driver_of "$DEV2"), want $NATIVE)" \
			[ "$(driver_of "$DEV2")" = "$NATIVE" ]
		check "  and no driver_override" [ -z "$(cat "$PCI/$DEV2/driver_override" | sed 's/(null)//')" ]
		check "bind $DEV2 to vfio_preserve again (the next tenant)" hvkitctl vfio bind "$DEV2"
		check "  not armed" [ "$(cat "$PCI/$DEV2/preserve")" = 0 ]
		reset_trace_on
		vfio_dev dma "$DEV2" /dev/kram_areas/scrubram next >$d/u2 2>&1
		echo "# $DEV2 after kexec: $(tr '\n' ' ' <$d/u2)"
		reset_trace_show
		# The witness counts the close too (unarmed, it resets): what
		# shows the open reset the device is the state the open found.
		check "its first session reset it: $(reset_calls) reset function calls (open and close)" \
			[ "$(reset_calls)" -ge 1 ]
		check "  its first open found the last tenant's queue gone: status $(field status $d/u2), nothing landed" \
			[ "$(field status $d/u2)/$(field landed $d/u2)" = 0x0/0 ]
		reset_trace_off
		check "unbind $DEV2, delete its area" sh -c \
			"hvkitctl vfio unbind $DEV2 && hvkitctl kram delete scrubram"
	fi
	rm -rf $d
	;;
*)
	echo "usage: $0 stage1|stage2" >&2
	exit 2
	;;
esac
exit $rc

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vfio_preserve in L1 (q35 + intel-iommu, a virtio-rng behind a PCIe root
# port with FLR): virtio state written through VFIO (status, negotiated
# feature, queue addresses; bus master on) is gone after close/open
# without preserve and kept with it; ftrace sees no reset function called
# while armed; bus master stays on; VFIO_DEVICE_RESET still resets unless
# no_user_reset; disarmed, the device resets again; bad input is refused.
# shellcheck source=selftests/tests/vfio_lib.sh
. /hvkit/tests/vfio_lib
# shellcheck source=selftests/tests/trace_lib.sh
. /hvkit/tests/trace_lib
echo "TAP version 13"
vfio_devices
W=/tmp/vfio_preserve
mkdir -p $W
check "bind $DEV to vfio_preserve (hvkitctl vfio bind)" hvkitctl vfio bind "$DEV"
check "$DEV is bound to vfio_preserve" [ "$(driver_of "$DEV")" = vfio_preserve ]
group=$(basename "$(readlink "$PCI/$DEV/iommu_group")")
check "VFIO group node /dev/vfio/$group exists" [ -c "/dev/vfio/$group" ]
vfio_dev feature "$DEV" probe >$W/probe
cat $W/probe | sed 's/^/# /'
check "VFIO feature PROBE answers 0" [ "$(field probe $W/probe)" = 0 ]
check "preserve is off after bind" [ "$(cat "$PCI/$DEV/preserve")" = 0 ]
reset_trace_on

# cycle NAME: write the state, close, reopen and read it (two open/close
# cycles through vfio-pci's enable/disable); leaves $W/NAME.{w,r} and
# $W/NAME.resets (reset-function calls seen by ftrace).
cycle() {
	reset_trace_clear
	vfio_dev write "$DEV" >$W/$1.w 2>&1
	vfio_dev read "$DEV" >$W/$1.r 2>&1
	reset_calls >$W/$1.resets
	reset_trace_show
	echo "# $1: wrote $(tr '\n' ' ' <$W/$1.w)"
	echo "# $1: read  $(tr '\n' ' ' <$W/$1.r) (reset calls: $(cat $W/$1.resets))"
}

# --- without preserve: vfio-pci's behaviour
cycle plain
check "plain: vfio_dev write set DRIVER_OK (status 0xf)" [ "$(field status $W/plain.w)" = 0xf ]
check "plain: after close/open the virtio status is reset (0x0)" [ "$(field status $W/plain.r)" = 0x0 ]
check "plain: after close/open queue_desc is reset (0x0)" [ "$(field queue_desc $W/plain.r)" = 0x0 ]
check "plain: Cache Line Size written in the session is undone at close (vfio-pci restores the open-time config)" \
	[ "$(field cache_line $W/plain.w)/$(field cache_line $W/plain.r)" = 0x10/0x0 ]
check "plain: ftrace saw resets ($(cat $W/plain.resets))" [ "$(cat $W/plain.resets)" -ge 2 ]
check "plain: resets_done counted ($(status_field "$DEV" resets_done))" [ "$(status_field "$DEV" resets_done)" -ge 2 ]

# --- armed
check "hvkitctl vfio preserve $DEV" hvkitctl vfio preserve "$DEV"
hvkitctl vfio status "$DEV" | sed 's/^/# /'
check "preserve reads 1" [ "$(cat "$PCI/$DEV/preserve")" = 1 ]
for k in no_reset master config; do
	check "preserve_status kept_names has $k" kept_has "$DEV" $k
done
skipped0=$(status_field "$DEV" resets_skipped)
cycle armed
check "armed: status 0xf kept over close/open (DRIVER_OK: bus master never cleared)" [ "$(field status $W/armed.r)" = 0xf ]
check "armed: queue_desc 0x12345000 kept" [ "$(field queue_desc $W/armed.r)" = 0x12345000 ]
check "armed: queue_driver 0x12346000 kept" [ "$(field queue_driver $W/armed.r)" = 0x12346000 ]
check "armed: queue_device 0x12347000 kept" [ "$(field queue_device $W/armed.r)" = 0x12347000 ]
check "armed: config written in the session kept over close/open (Cache Line Size $(field cache_line $W/armed.r))" \
	[ "$(field cache_line $W/armed.r)" = 0x10 ]
cmd=$(field command $W/armed.r)
check "armed: Command register keeps bus master and memory ($cmd)" [ $((cmd & 6)) = 6 ]
check "armed: ftrace saw no reset function called ($(cat $W/armed.resets))" [ "$(cat $W/armed.resets)" = 0 ]
skipped1=$(status_field "$DEV" resets_skipped)
check "armed: resets_skipped $skipped0 -> $skipped1 (2 opens, 2 closes)" [ "$skipped1" = $((skipped0 + 4)) ]
vfio_dev feature "$DEV" get >$W/get
sed 's/^/# /' $W/get
check "feature GET: flags 0x1" [ "$(field flags $W/get)" = 0x1 ]
kept=$(field kept $W/get)
check "feature GET: kept has no_reset, master, config ($kept)" [ $((kept & 7)) = 7 ]

# --- VFIO_DEVICE_RESET while armed: still a reset, unless no_user_reset
vfio_dev write "$DEV" >/dev/null 2>&1
vfio_dev reset "$DEV" >$W/reset1
vfio_dev read "$DEV" >$W/afterreset1
check "armed: VFIO_DEVICE_RESET works ($(field reset $W/reset1))" [ "$(field reset $W/reset1)" = 0 ]
check "armed: VFIO_DEVICE_RESET reset the device (status $(field status $W/afterreset1))" [ "$(field status $W/afterreset1)" = 0x0 ]
vfio_dev feature "$DEV" set 0x3 >$W/set3
check "feature SET 0x3 (armed + no_user_reset)" [ "$(field set $W/set3)" = 0 ]
vfio_dev write "$DEV" >/dev/null 2>&1
vfio_dev reset "$DEV" >$W/reset2
vfio_dev read "$DEV" >$W/afterreset2
check "no_user_reset: VFIO_DEVICE_RESET returns 0 ($(field reset $W/reset2))" [ "$(field reset $W/reset2)" = 0 ]
check "no_user_reset: the state survived it (status $(field status $W/afterreset2))" [ "$(field status $W/afterreset2)" = 0xf ]
check "no_user_reset: counted (user_resets_skipped $(status_field "$DEV" user_resets_skipped))" [ "$(status_field "$DEV" user_resets_skipped)" = 1 ]

# --- bad input
vfio_dev feature "$DEV" set 0x80 >$W/setbad
check "feature SET unknown flag 0x80 -> -EINVAL ($(field set $W/setbad))" [ "$(field set $W/setbad)" = -22 ]
vfio_dev feature "$DEV" set-reserved 0x3 >$W/setres
check "feature SET with a reserved field not 0 -> -EINVAL ($(field set $W/setres))" [ "$(field set $W/setres)" = -22 ]

# --- privilege: the reset at release scrubs a device between tenants
check "disarm (flags 0x0)" sh -c "echo 0 >$PCI/$DEV/preserve_flags"
check "allow_user_arm is 0 by default" [ "$(cat "$PCI/$DEV/allow_user_arm")" = 0 ]
vfio_dev feature "$DEV" set-nocap 0x1 >$W/nocap
check "arming without CAP_SYS_ADMIN -> -EPERM ($(field set $W/nocap))" [ "$(field set $W/nocap)" = -1 ]
check "the log says what arming needs" sh -c "dmesg | grep -q 'arming needs CAP_SYS_ADMIN, or allow_user_arm=1'"
check "still disarmed" [ "$(cat "$PCI/$DEV/preserve_flags")" = 0x0 ]
check "administrator sets allow_user_arm=1" sh -c "echo 1 >$PCI/$DEV/allow_user_arm"
vfio_dev feature "$DEV" set-nocap 0x3 >$W/nocap2
check "with allow_user_arm, an unprivileged VMM arms ($(field set $W/nocap2))" [ "$(field set $W/nocap2)" = 0 ]
check "armed with flags 0x3" [ "$(cat "$PCI/$DEV/preserve_flags")" = 0x3 ]
check "allow_user_arm back to 0" sh -c "echo 0 >$PCI/$DEV/allow_user_arm"
vfio_dev feature "$DEV" set-nocap 0x0 >$W/nocap3
check "disarming needs no privilege ($(field set $W/nocap3))" [ "$(field set $W/nocap3)" = 0 ]
check "re-arm as root (0x3)" sh -c "echo 0x3 >$PCI/$DEV/preserve_flags"
check "sysfs preserve 'maybe' refused" sh -c "! echo maybe >$PCI/$DEV/preserve 2>/dev/null"
check "sysfs preserve_flags 0x10 refused" sh -c "! echo 0x10 >$PCI/$DEV/preserve_flags 2>/dev/null"
check "sysfs preserve_flags 0x2 (no_user_reset, not armed) refused" sh -c "! echo 0x2 >$PCI/$DEV/preserve_flags 2>/dev/null"
check "the refusals left preserve armed with flags 0x3" [ "$(cat "$PCI/$DEV/preserve_flags")" = 0x3 ]
if [ -n "$PAIR1" ] && [ -n "$PAIR2" ]; then
	check "hvkitctl vfio preserve of a device not bound to vfio_preserve fails" \
		sh -c "! hvkitctl vfio preserve $PAIR2 2>$W/wrong"
	sed 's/^/# /' $W/wrong
	check "bind $PAIR1 (IOMMU group shared with $PAIR2)" hvkitctl vfio bind "$PAIR1"
	check "preserve of $PAIR1 (non-singleton group) refused" sh -c "! hvkitctl vfio preserve $PAIR1 2>$W/group"
	sed 's/^/# /' $W/group
	check "the refusal says why (singleton)" grep -q singleton $W/group
	check "$PAIR1 stays disarmed" [ "$(cat "$PCI/$PAIR1/preserve")" = 0 ]
	check "unbind $PAIR1" hvkitctl vfio unbind "$PAIR1"
else
	echo "# no device pair sharing an IOMMU group: group refusal untested"
fi

# --- a device with other functions on its bus: the root bus (the q35
# chipset's functions beside it), which no bridge can reset
if [ -n "$ROOTDEV" ]; then
	set -- "$PCI"/0000:00:*
	echo "# $ROOTDEV: IOMMU group $(basename "$(readlink "$PCI/$ROOTDEV/iommu_group")"), $# functions on bus 00"
	check "bind $ROOTDEV (root bus, other functions on it)" hvkitctl vfio bind "$ROOTDEV"
	check "arm $ROOTDEV: nothing on a root bus loses a bus reset" hvkitctl vfio preserve "$ROOTDEV"
	hvkitctl vfio status "$ROOTDEV" | sed 's/^/# /'
	root_kept() { kept_has "$ROOTDEV" no_reset && kept_has "$ROOTDEV" config && ! kept_has "$ROOTDEV" master; }
	check "kept: no_reset and config, not master (no config filter on a root bus)" root_kept
	vfio_dev write "$ROOTDEV" >$W/root.w 2>&1
	vfio_dev read "$ROOTDEV" >$W/root.r 2>&1
	echo "# $ROOTDEV: read $(tr '\n' ' ' <$W/root.r)"
	check "armed on the root bus: queue_desc kept over close/open (no reset)" \
		[ "$(field queue_desc $W/root.r)" = 0x12345000 ]
	check "disarm and unbind $ROOTDEV" sh -c "hvkitctl vfio preserve $ROOTDEV off && hvkitctl vfio unbind $ROOTDEV"
else
	echo "not ok 998 no virtio device on the root bus (group vfio adds one)"
	rc=1
fi

# --- module reload while armed: the kram record binds the device again
vfio_dev write "$DEV" >/dev/null 2>&1
# rmmod: busybox's modprobe -r also tries the dependencies (vfio, in use).
check "rmmod vfio_preserve while $DEV is armed" rmmod vfio_preserve
check "vfio_preserve is gone" [ ! -d /sys/module/vfio_preserve ]
check "$DEV is unbound" [ "$(driver_of "$DEV")" = none ]
# The records are read in the module's init, before anyone could enable
# its events: trace_init=1 has vfio_preserve enable them itself, first
# (trace_mount before: it turns record-cmd off, see trace_lib).
trace_mount
: >$TR/trace
check "modprobe vfio_preserve trace_init=1" modprobe vfio_preserve trace_init=1
check "$DEV is bound again by the module, from its kram record" [ "$(driver_of "$DEV")" = vfio_preserve ]
D=$(echo "$DEV" | sed 's/\./\\./g')
grep ' vpr_record:' $TR/trace | sed 's/^/# trace: /'
check "trace_init=1 enabled vpr_record, not vpr_arm" \
	[ "$(cat $TR/events/vfio_preserve/vpr_record/enable)$(cat $TR/events/vfio_preserve/vpr_arm/enable)" = 10 ]
check "vpr_record: $DEV's record restored (vendor 1af4, its generation)" \
	trace_has vpr_record "slot=[0-9]+ dev=$D vendor=1af4 device=[0-9a-f]{4} saved_gen=[1-9][0-9]* result=restore why=binding without reset"
check "vpr_record: $DEV bound from it, armed" \
	trace_has vpr_record "slot=[0-9]+ dev=$D vendor=1af4 device=[0-9a-f]{4} saved_gen=[1-9][0-9]* result=bound why=armed, not reset"
echo 0 >$TR/events/vfio_preserve/enable
check "restored 1, flags 0x3 from the record" [ "$(status_field "$DEV" restored)/$(cat "$PCI/$DEV/preserve_flags")" = 1/0x3 ]
vfio_dev read "$DEV" >$W/reload.r 2>&1
echo "# after reload: $(tr '\n' ' ' <$W/reload.r)"
check "the state survived unbind and rebind (status $(field status $W/reload.r))" [ "$(field status $W/reload.r)" = 0xf ]
check "unbind $DEV while armed" hvkitctl vfio unbind "$DEV"
check "bind $DEV again" hvkitctl vfio bind "$DEV"
check "the unbind erased the record: preserve 0, restored 0" [ "$(cat "$PCI/$DEV/preserve")/$(status_field "$DEV" restored)" = 0/0 ]
check "debugfs lists $DEV and no pending record" sh -c "grep -q '^$DEV ' /sys/kernel/debug/vfio_preserve/devices && ! grep -q pending /sys/kernel/debug/vfio_preserve/devices"

# --- records the module must refuse after a reload
# The records' area is kernel-owned: no /dev/kram_areas node, and
# /dev/kram never reaches it. A test edits it through /dev/mem, with kram
# unloaded (while loaded, kram holds the region exclusively).
check "the records' area has no device node (kernel-owned)" [ ! -e /dev/kram_areas/vfio_preserve ]
# Nor does userspace reach it another way: AREA_DELETE by name, or a
# hand-made node of its minor (kram_area's major, its slot).
check "AREA_DELETE of the records' area from userspace is refused (EPERM)" \
	sh -c "! hvkitctl kram delete vfio_preserve 2>$W/adel.err && grep -q 'Operation not permitted' $W/adel.err"
sed 's/^/# /' $W/adel.err
maj=$(awk '$2 == "kram_area" { print $1 }' /proc/devices)
vslot=$(awk '$2 == "vfio_preserve" { print $1 }' /sys/kernel/debug/kram/areas)
rm -f $W/vpr_area_node
check "a hand-made node of the records' area (c $maj $vslot) opens nothing (EPERM)" \
	sh -c "mknod $W/vpr_area_node c $maj $vslot && ! dd if=$W/vpr_area_node of=/dev/null bs=4096 count=1 2>$W/mknod.err && grep -q 'Operation not permitted' $W/mknod.err"
sed 's/^/# /' $W/mknod.err
rm -f $W/vpr_area_node
AREA=/dev/mem@$(awk '$2 == "vfio_preserve" { print $6 }' /sys/kernel/debug/kram/areas)
echo "# records: $AREA"
# reload_with EDIT...: arm, unload (record kept), edit the record, load.
reload_with() {
	hvkitctl vfio preserve "$DEV" >/dev/null &&
		slot=$(status_field "$DEV" slot) &&
		rmmod vfio_preserve && rmmod kram &&
		vpr_record "$AREA" "$slot" "$@" | sed 's/^/# /' &&
		dmesg -c >/dev/null && : >$TR/trace &&
		modprobe kram && modprobe vfio_preserve trace_init=1
}
# erased NAME: after a refusal, the slot's newest valid copy (what the
# next load reads) is a tombstone (flags 0), not the refused record:
# kram and vfio_preserve go out for vpr_record to read it, and back.
erased() {
	rmmod vfio_preserve && rmmod kram &&
		vpr_record "$AREA" "$slot" show >$W/show.$1
	_r=$?
	sed 's/^/# /' $W/show.$1
	modprobe kram && modprobe vfio_preserve && [ $_r = 0 ] &&
		grep -q "newest valid: copy [01], seq [0-9]*, flags 0$" $W/show.$1
}
check "a record whose vendor changed: reload" reload_with vendor 1234
dmesg | grep vfio_preserve | sed 's/^/# /'
check "refused: the log names the changed vendor" sh -c "dmesg | grep -q 'not restored: .*vendor changed.*record dropped'"
grep ' vpr_record:' $TR/trace | sed 's/^/# trace: /'
check "vpr_record: $DEV's record (vendor 1234) refused, the reason named" \
	trace_has vpr_record "slot=[0-9]+ dev=$D vendor=1234 device=[0-9a-f]{4} saved_gen=[0-9]+ result=refuse why=.*vendor changed"
check "vpr_record: no restore, no bind" sh -c "! grep -qE ' vpr_record: .*result=(restore|bound) ' $TR/trace"
check "the device is not armed from it (preserve 0, restored 0)" [ "$(cat "$PCI/$DEV/preserve")/$(status_field "$DEV" restored)" = 0/0 ]
check "the refused record was erased: its slot holds a tombstone" erased vendor
boot=$(cat /sys/class/misc/kram/boot_count)
check "a record saved two boots ago (boot $((boot - 2)), now $boot): reload" reload_with boot $((boot - 2))
dmesg | grep vfio_preserve | sed 's/^/# /'
check "refused: the log says the record is older than the previous boot" sh -c "dmesg | grep -q 'not restored: the record is older than the previous boot.*record dropped'"
check "the device is not armed from it (preserve 0)" [ "$(cat "$PCI/$DEV/preserve")" = 0 ]
check "a corrupt record: reload" reload_with corrupt
dmesg | grep vfio_preserve | sed 's/^/# /'
check "refused: the log says no valid record" sh -c "dmesg | grep -q 'no valid record.*dropped'"
grep ' vpr_record:' $TR/trace | sed 's/^/# trace: /'
check "vpr_record: the corrupt slot is invalid, erased" \
	trace_has vpr_record "slot=$slot dev=0000:00:00\.0 vendor=0000 device=0000 saved_gen=0 result=invalid why=no valid copy; erased"
check "the device is not armed from it" [ "$(cat "$PCI/$DEV/preserve")" = 0 ]
check "the corrupt slot was erased: it holds a tombstone" erased corrupt

echo 0 >$TR/events/vfio_preserve/enable

# --- disarmed: resets as usual
check "hvkitctl vfio preserve $DEV off" hvkitctl vfio preserve "$DEV" off
cycle off
check "disarmed: after close/open the status is reset again ($(field status $W/off.r))" [ "$(field status $W/off.r)" = 0x0 ]
check "disarmed: ftrace saw resets ($(cat $W/off.resets))" [ "$(cat $W/off.resets)" -ge 2 ]
reset_trace_off
check "unbind $DEV" hvkitctl vfio unbind "$DEV"
check "$DEV is back with its default driver ($NATIVE)" [ "$(driver_of "$DEV")" = "$NATIVE" ]
exit $rc

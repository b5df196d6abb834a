#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vfio_preserve's trace events (tracefs events/vfio_preserve/) on the
# group's device: flags changed (done and refused), resets done while
# disarmed and spared while armed, at open, close and VFIO_DEVICE_RESET.
# Leaves the device bound and armed as it found it.
# shellcheck source=selftests/tests/vfio_lib.sh
. /hvkit/tests/vfio_lib
# shellcheck source=selftests/tests/trace_lib.sh
. /hvkit/tests/trace_lib
echo "TAP version 13"
vfio_devices
W=/tmp/vfio_trace
mkdir -p $W
[ "$(driver_of "$DEV")" = vfio_preserve ] || hvkitctl vfio bind "$DEV" >/dev/null
check "$DEV bound to vfio_preserve" [ "$(driver_of "$DEV")" = vfio_preserve ]
flags0=$(cat "$PCI/$DEV/preserve_flags")
EV="vfio_preserve/vpr_arm vfio_preserve/vpr_reset"
check "tracefs mounted, enable vpr_arm and vpr_reset" sh -c ". /hvkit/tests/trace_lib; trace_mount && trace_on $EV"
echo 0 >"$PCI/$DEV/preserve_flags"
vfio_dev write "$DEV" >/dev/null 2>&1
echo 0x1 >"$PCI/$DEV/preserve_flags"
vfio_dev write "$DEV" >/dev/null 2>&1
vfio_dev feature "$DEV" set 0x80 >/dev/null 2>&1
echo 0x3 >"$PCI/$DEV/preserve_flags"
vfio_dev reset "$DEV" >/dev/null 2>&1
trace_show vfio
D=$(echo "$DEV" | sed 's/\./\\./g')
check "vpr_arm: disarmed (flags 0x0, ret 0)" trace_has vpr_arm "dev=$D old_flags=0x[0-9a-f]+ flags=0x0 ret=0"
check "vpr_arm: armed (0x1, ret 0)" trace_has vpr_arm "dev=$D old_flags=0x0 flags=0x1 ret=0"
check "vpr_arm: unknown flag 0x80 refused (ret -22)" trace_has vpr_arm "dev=$D old_flags=0x1 flags=0x80 ret=-22"
check "vpr_reset: disarmed, reset done at open and at close" \
	sh -c "grep -qE ' vpr_reset: dev=$D when=open skipped=0' $TR/trace && grep -qE ' vpr_reset: dev=$D when=close skipped=0' $TR/trace"
check "vpr_reset: armed, reset spared at open and at close" \
	sh -c "grep -qE ' vpr_reset: dev=$D when=open skipped=1' $TR/trace && grep -qE ' vpr_reset: dev=$D when=close skipped=1' $TR/trace"
check "vpr_reset: no_user_reset, VFIO_DEVICE_RESET spared" trace_has vpr_reset "dev=$D when=VFIO_DEVICE_RESET skipped=1"
trace_off $EV
: >$TR/trace
echo "$flags0" >"$PCI/$DEV/preserve_flags"
check "flags back to $flags0, events off, nothing recorded" \
	sh -c "[ \"\$(cat $PCI/$DEV/preserve_flags)\" = $flags0 ] && ! grep -q ' vpr_' $TR/trace"
exit $rc

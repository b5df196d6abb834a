#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vfio_preserve's migration region with Debian's unmodified QEMU 7.2 (group
# live-update, listed as "kexec:vfio_migrate"). QEMU 7.2 migrates a VM
# with a vfio-pci device only when the device offers the VFIO migration
# "v1" region (x-enable-migration=on); an armed device offers one whose
# "state" is a token naming the device, the host (kram's region UUID) and
# the boot, checked when QEMU writes it back on the destination.
#   stage1: a VMM (QEMU -S, its RAM a shared file: x-ignore-shared) with a
#           device unarmed, or armed without no_user_reset, cannot migrate
#           (QEMU's blocker); with DEV armed it saves to a file and a new
#           QEMU loads it onto DEV and runs the VM (no reset, by ftrace).
#           Refused, the VM never running: the same state a second time,
#           onto DEV2 (armed too), with a byte of its token changed, and
#           after a disarm and re-arm. States of DEV and DEV2 are saved for
#           stage2; DEV2 is then disarmed and unbound, DEV stays armed.
#   stage2: after the kexec DEV's state loads onto DEV, bound from its kram
#           record, once; DEV2's fails: it was not preserved through it.
# shellcheck source=selftests/tests/vfio_lib.sh
. /hvkit/tests/vfio_lib
echo "TAP version 13"
W=/hvkit/vfio_migrate	# outside /tmp: carried into the next boot
QEMU=/hvkit/bin/qemu-system-x86_64

# vmm NAME BDF [-incoming defer]: start QEMU paused, its 64 MiB of RAM a
# shared file, BDF passed through with VFIO migration on, its monitor on
# the pipe $W/NAME.{in,out} (log $W/NAME.log); pid in $W/NAME.pid.
vmm() {
	_n=$1 _b=$2
	shift 2
	rm -f "$W/$_n.in" "$W/$_n.out" "$W/$_n.log"
	mkfifo "$W/$_n.in" "$W/$_n.out"
	$QEMU -L /usr/share/qemu -M q35,memory-backend=ram -accel kvm -m 64 \
		-nodefaults -display none -S \
		-object "memory-backend-file,id=ram,size=64M,mem-path=$W/$_n.ram,share=on" \
		-device "vfio-pci,host=$_b,rombar=0,x-enable-migration=on,id=pt" \
		-chardev "pipe,id=mon,path=$W/$_n" -mon chardev=mon,mode=readline \
		"$@" >"$W/$_n.err" 2>&1 &
	echo $! >"$W/$_n.pid"
	cat "$W/$_n.out" >"$W/$_n.log" &
	mon "$_n" "info status"
	wait_mon "$_n" "VM status" 30
}
# mon NAME COMMAND: a monitor command (no wait for its answer). The FIFO
# is opened for writing, which waits for QEMU to have its end open (a
# command written before would be lost); for at most 10 s, so that a QEMU
# that is gone fails the command instead of hanging the test.
mon() { timeout 10 sh -c 'echo "$1" >"$2"' mon "$2" "$W/$1.in"; }
# wait_mon NAME TEXT SECS: until the monitor log has TEXT (0), QEMU is
# gone or SECS passed (1).
wait_mon() {
	_i=0
	while [ $_i -lt $(($3 * 10)) ]; do
		tr -d '\r' <"$W/$1.log" | grep -q "$2" && return 0
		kill -0 "$(cat "$W/$1.pid")" 2>/dev/null || return 1
		usleep 100000
		_i=$((_i + 1))
	done
	return 1
}
# migrated NAME: "info migrate" until it says completed (0) or failed (1).
migrated() {
	_i=0
	while [ $_i -lt 60 ]; do
		mon "$1" "info migrate"
		usleep 500000
		_s=$(tr -d '\r' <"$W/$1.log" | sed -n 's/^Migration status: //p' | tail -n 1)
		case "$_s" in
		completed) return 0 ;;
		failed | cancelled) return 1 ;;
		esac
		# Refused before it began (a migration blocker).
		tr -d '\r' <"$W/$1.log" | grep -q "^Error: " && return 1
		kill -0 "$(cat "$W/$1.pid")" 2>/dev/null || return 1
		_i=$((_i + 1))
	done
	return 1
}
# quit NAME: end QEMU (monitor "quit", then a kill after 10 s); QEMU's
# exit status in $qrc.
quit() {
	mon "$1" quit 2>/dev/null &
	_p=$(cat "$W/$1.pid")
	_i=0
	while kill -0 "$_p" 2>/dev/null && [ $_i -lt 100 ]; do usleep 100000; _i=$((_i + 1)); done
	kill -9 "$_p" 2>/dev/null
	wait "$_p"
	qrc=$?
	rm -f "$W/$1.ram"
	sed "s/^/# $1: /" "$W/$1.err"
}
# save NAME BDF FILE: a VMM with BDF saves its state (not its RAM) to FILE.
save() {
	vmm "$1" "$2" || { quit "$1"; return 1; }
	mon "$1" "migrate_set_capability x-ignore-shared on"
	mon "$1" "migrate exec:cat>$3"
	migrated "$1"
	_r=$?
	quit "$1"
	return $_r
}
# load NAME BDF FILE: a new VMM with BDF loads FILE, runs the VM and is
# still running it a second later.
load() {
	vmm "$1" "$2" -incoming defer || { quit "$1"; return 1; }
	mon "$1" "migrate_set_capability x-ignore-shared on"
	mon "$1" "migrate_incoming \"exec:cat $3\""
	migrated "$1"
	_r=$?
	if [ $_r = 0 ]; then
		mon "$1" cont
		sleep 1
		mon "$1" "info status"
		wait_mon "$1" "VM status: running" 10 || _r=1
	fi
	quit "$1"
	[ "$qrc" = 0 ] || _r=1
	return $_r
}
# load_refused NAME BDF FILE: the load fails and QEMU exits (the VM never ran).
load_refused() {
	vmm "$1" "$2" -incoming defer || { quit "$1"; return 1; }
	mon "$1" "migrate_set_capability x-ignore-shared on"
	mon "$1" "migrate_incoming \"exec:cat $3\""
	_i=0
	while kill -0 "$(cat "$W/$1.pid")" 2>/dev/null && [ $_i -lt 300 ]; do
		usleep 100000
		_i=$((_i + 1))
	done
	quit "$1"
	[ "$qrc" != 0 ] && grep -q "load of migration failed" "$W/$1.err"
}
mig() { status_field "$1" "mig_$2"; }
# klog TEXT: the kernel logged TEXT since this test's last klog_mark.
klog_mark() { dmesg | wc -l >"$W/klog.mark"; }
klog() { dmesg | tail -n +$(($(cat "$W/klog.mark") + 1)) | grep -q "$1"; }

case "$1" in
stage1)
	rm -rf $W && mkdir -p $W
	vfio_devices
	[ -n "$DEV2" ] || { echo "not ok 1 a second singleton test device (DEV2): not found"; exit 1; }
	echo "$DEV $DEV2" >$W/devs
	check "kram has a region" [ "$(cat /sys/class/misc/kram/state)" = attached ]
	check "bind $DEV and $DEV2 to vfio_preserve" sh -c "hvkitctl vfio bind $DEV && hvkitctl vfio bind $DEV2"
	reset_trace_on

	# blocked NAME: QEMU's migrate refused with its VFIO blocker.
	blocked() { tr -d "\r" <"$W/$1.log" | grep -q "doesn.t support migration"; }
	check "$DEV2 not armed: QEMU refuses to migrate it (no migration region: its blocker)" \
		eval '! save unarmed "$DEV2" $W/unarmed.state && blocked unarmed'
	check "arm $DEV2 without no_user_reset" hvkitctl vfio preserve "$DEV2"
	check "... still no migration (QEMU's reset on the destination would reset it)" \
		eval '! save armed_reset "$DEV2" $W/armed_reset.state && blocked armed_reset'
	check "arm $DEV (preserve, no_user_reset)" hvkitctl vfio preserve "$DEV" --no-user-reset
	check "arm $DEV2 with no_user_reset" hvkitctl vfio preserve "$DEV2" --no-user-reset
	reset_trace_clear
	klog_mark
	check "a VMM with $DEV armed saves its state to a file (x-ignore-shared: not its RAM)" \
		save src "$DEV" $W/dev.state
	echo "# the saved stream: $(wc -c <$W/dev.state) bytes (ROMs and device state; not the shared RAM)"
	check "$DEV handed a token to the VMM (mig_saved $(mig "$DEV" saved))" [ "$(mig "$DEV" saved)" = 1 ]
	check "kernel: token handed to the VMM" klog "$DEV: migration: token handed to the VMM"
	check "a new VMM loads it onto $DEV and runs the VM" load dst "$DEV" $W/dev.state
	check "$DEV: token checked (mig_restored $(mig "$DEV" restored), unverified $(mig "$DEV" unverified))" \
		[ "$(mig "$DEV" restored)/$(mig "$DEV" unverified)/$(mig "$DEV" refused)" = 1/0/0 ]
	check "kernel: token checked, the same device" klog "$DEV: migration: token checked"
	check "no reset of $DEV through save, load and run ($(reset_calls) reset calls)" [ "$(reset_calls)" = 0 ]
	reset_trace_show

	klog_mark
	check "the same state loaded onto $DEV a second time: refused" load_refused again "$DEV" $W/dev.state
	check "kernel: refused, loaded already" klog "$DEV: migration refused: opened by another VMM since the save, or this state was loaded already"
	# The administrator's way out (a destination that failed before its
	# load spent the state): one load without the history check.
	vfio_dev sysfs-nocap "$DEV" mig_override 1 >$W/override.nocap
	check "mig_override=1 without CAP_SYS_ADMIN -> EPERM ($(field write $W/override.nocap)), still 0" \
		eval '[ "$(field write $W/override.nocap)" = -1 ] && [ "$(cat "$PCI/$DEV/mig_override")" = 0 ]'
	check "mig_override=maybe refused, with the reason" \
		eval '! sh -c "echo maybe >$PCI/$DEV/mig_override" 2>/dev/null &&
			dmesg | grep -q "$DEV: mig_override: .maybe. is not 0/1/on/off"'
	check "mig_override: one load without the history check" sh -c "echo 1 >$PCI/$DEV/mig_override"
	klog_mark
	check "... the same state then loads onto $DEV and the VM runs" load over "$DEV" $W/dev.state
	check "kernel: token checked, its history not (mig_override)" \
		klog "$DEV: migration: token checked .*history since the save not checked (mig_override)"
	check "mig_override is off again after that load" [ "$(cat "$PCI/$DEV/mig_override")" = 0 ]
	klog_mark
	check "$DEV's state loaded onto $DEV2: the load fails, QEMU exits, the VM never runs" \
		load_refused wrong "$DEV2" $W/dev.state
	check "$DEV2: refused (mig_refused $(mig "$DEV2" refused), restored $(mig "$DEV2" restored))" \
		[ "$(mig "$DEV2" refused)/$(mig "$DEV2" restored)" = 1/0 ]
	check "kernel: refused as another device" klog "$DEV2: migration refused: saved from another device"
	check "save $DEV's state again" save src1 "$DEV" $W/dev1.state
	# The token's magic ("VPRM") found in the stream; its CRC then fails.
	off=$(od -An -v -tu1 $W/dev1.state | awk '{ for (i = 1; i <= NF; i++) b[n++] = $i }
		END { for (i = 0; i + 3 < n; i++)
			if (b[i] == 86 && b[i + 1] == 80 && b[i + 2] == 82 && b[i + 3] == 77) { print i; exit } }')
	cp $W/dev1.state $W/bad.state
	# flip OFFSET: the byte at OFFSET of bad.state, its bits inverted.
	flip() {
		_b=$(od -An -tu1 -j "$1" -N1 $W/bad.state | tr -d ' ')
		[ -n "$_b" ] && printf "\\$(printf %o $((_b ^ 255)))" |
			dd of=$W/bad.state bs=1 seek="$1" conv=notrunc 2>/dev/null
	}
	check "corrupt a byte of the token (its host UUID, stream offset $((${off:-0} + 16)))" \
		eval '[ -n "$off" ] && flip $((off + 16)) && ! cmp -s $W/bad.state $W/dev1.state'
	klog_mark
	check "a corrupted token onto $DEV: the load fails" load_refused bad "$DEV" $W/bad.state
	check "kernel: refused as a corrupt token" klog "$DEV: migration refused: a corrupt migration token"
	klog_mark
	check "disarm $DEV and arm it again" sh -c "hvkitctl vfio preserve $DEV off && hvkitctl vfio preserve $DEV --no-user-reset"
	check "the state saved before the disarm: refused" load_refused rearmed "$DEV" $W/dev1.state
	check "kernel: refused, disarmed since the save" klog "$DEV: migration refused: disarmed, or no_user_reset dropped, since the save"
	check "$DEV: refusals counted (mig_refused $(mig "$DEV" refused))" [ "$(mig "$DEV" refused)" = 3 ]

	# For after the kexec: DEV stays armed (preserved), DEV2 does not.
	check "save $DEV's state for after the kexec" save src2 "$DEV" $W/dev2.state
	check "save $DEV2's state, then disarm and unbind it" \
		eval 'save src3 "$DEV2" $W/devb.state && hvkitctl vfio preserve "$DEV2" off && hvkitctl vfio unbind "$DEV2"'
	reset_trace_off
	exit $rc
	;;
stage2)
	read -r DEV DEV2 <$W/devs
	reset_trace_on
	check "$DEV bound by vfio_preserve from its kram record" \
		eval '[ "$(driver_of "$DEV")" = vfio_preserve ] && [ "$(status_field "$DEV" restored)" = 1 ]'
	klog_mark
	check "the state saved before the kexec loads onto $DEV and the VM runs" load dst2 "$DEV" $W/dev2.state
	boots=$(dmesg | tail -n +$(($(cat "$W/klog.mark") + 1)) |
		sed -n "s/.*$DEV: migration: token checked (saved in kram boot \([0-9]*\), this is boot \([0-9]*\)).*/\1 \2/p" | tail -n 1)
	check "kernel: token checked across the kexec (kram boots $boots)" \
		eval 'set -- $boots; [ -n "$2" ] && [ $(($1 + 1)) = "$2" ]'
	check "the same state a second time: refused" load_refused again2 "$DEV" $W/dev2.state
	check "no reset of $DEV ($(reset_calls) reset calls)" [ "$(reset_calls)" = 0 ]
	check "bind $DEV2 again and arm it" \
		sh -c "hvkitctl vfio bind $DEV2 && hvkitctl vfio preserve $DEV2 --no-user-reset"
	klog_mark
	check "$DEV2's state from before the kexec: the load fails (not preserved through it)" \
		load_refused late "$DEV2" $W/devb.state
	check "kernel: refused, not preserved through the kexec" klog "$DEV2: migration refused: the device did not come through the kexec preserved"
	check "disarm and unbind both" sh -c "hvkitctl vfio preserve $DEV off && hvkitctl vfio preserve $DEV2 off &&
		hvkitctl vfio unbind $DEV && hvkitctl vfio unbind $DEV2"
	reset_trace_off
	exit $rc
	;;
*)
	echo "usage: vfio_migrate stage1|stage2" >&2
	exit 2
	;;
esac

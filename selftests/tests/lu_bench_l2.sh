#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Live update benchmark, L2 side (group bench-liveupdate): the VM whose
# host (L1) is kexec'd under it, once per L2 boot. It fills half its RAM
# (tmpfs, non-zero bytes: a VM's RAM is in use, and QEMU sends a page of
# zeroes as a few bytes), gives the mark live-update@0x0 (L1 saves it
# there, kexecs and restores it), and measures the blackout as a guest
# sees it: its monotonic clock (kvmclock, frozen by QEMU while the VM is
# stopped) against its RTC (QEMU's mc146818 follows the host's clock), in
# whole seconds. Then its data must be intact.
# shellcheck source=selftests/tests/tap_lib.sh
. /hvkit/tests/tap_lib
echo "TAP version 13"
total=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
fill=$((total / 2))
pat=hvkit-live-update-benchmark
mkdir -p /mnt/fill
check "tmpfs for $fill MiB" mount -t tmpfs -o size=$((fill + 16))m none /mnt/fill
read -r f0 _ </proc/uptime
yes $pat | head -c $((fill * 1048576)) >/mnt/fill/data
read -r f1 _ </proc/uptime
check "$fill MiB of L2's $total MiB filled ($(echo "$f0 $f1" | awk '{ print $2 - $1 }') s)" \
	[ "$(wc -c </mnt/fill/data)" = $((fill * 1048576)) ]
rtc=/sys/class/rtc/rtc0/since_epoch
# off: the RTC's seconds minus the monotonic clock's, in $o.
off() {
	read -r _u _ </proc/uptime
	o=$(($(cat $rtc) - ${_u%.*}))
}
off
o0=$o
MARK_WAIT_US=0 mark "live-update@0x0"
# Until the RTC is 3 s or more ahead of where it was against the
# monotonic clock (the blackout, under nested TCG far longer), 900 s of
# the RTC at most.
r0=$(cat $rtc)
while :; do
	off
	[ $((o - o0)) -ge 3 ] && break
	[ $(($(cat $rtc) - r0)) -gt 900 ] && break
	usleep 100000
done
gap=$((o - o0))
check "L2 resumed: its RTC jumped $gap s ahead of its monotonic clock (the blackout a guest sees)" \
	[ $gap -ge 3 ]
yes $pat | head -c $((fill * 1048576)) | cmp -s - /mnt/fill/data
check "the $fill MiB are intact after the live update" [ $? = 0 ]
umount /mnt/fill
exit $rc

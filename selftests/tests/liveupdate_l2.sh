#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Live update, L2 side (group live-update): the VM whose host is kexec'd
# under it, twice in a row (round 1, round 2). First 32 MiB of tmpfs get
# random bytes and a process starts counting. Before each round, a process
# (lu_token) locks a page holding a token and names its guest-physical
# address, and the passthrough device gets new data. Then the mark
# live-update@GPA: L1 stops this VM,
# saves it, kexecs, writes a mark into lu_token's page (through the kram
# area that is this VM's RAM) and restores the VM. After: the same boot,
# the same processes (lu_token sees the mark in its page, the counter goes
# on), the same memory, and the passthrough device (QEMU's edu) with the
# state L2 gave it before: its liveness register and its DMA buffer, read
# back by a DMA into L2's RAM through L1's new IOMMU mapping (edu_dma).
# shellcheck source=selftests/tests/tap_lib.sh
. /hvkit/tests/tap_lib
echo "TAP version 13"
boot=$(cat /proc/sys/kernel/random/boot_id)
dd if=/dev/urandom of=/tmp/blob bs=1M count=32 2>/dev/null
sum0=$(md5sum </tmp/blob)
# The counter is renamed into place: a reader never sees it half written.
sh -c 'i=0; while :; do i=$((i + 1)); echo $i >/tmp/counter.new; mv /tmp/counter.new /tmp/counter; usleep 100000; done' &
cpid=$!
# lu_token's page must stay where it said it is: compaction may migrate
# mlocked pages unless this says no.
echo 0 >/proc/sys/vm/compact_unevictable_allowed
i=0
while [ $i -lt 50 ] && [ ! -s /tmp/counter ]; do usleep 100000; i=$((i + 1)); done
c0=$(cat /tmp/counter)
# round N: one live update of this VM (L1 kexecs under it), and the checks
# after it.
round() {
	# Emptied here, not by the background job's redirection: that one
	# truncates in the child, and the wait below could read round 1's
	# 'gpa=' first (seen once: round 2 failed with an empty address).
	: >/tmp/token.out
	lu_token 600 >>/tmp/token.out 2>&1 &
	tpid=$!
	i=0
	while [ $i -lt 100 ] && ! grep -q 'gpa=' /tmp/token.out; do
		usleep 100000
		i=$((i + 1))
	done
	gpa=$(sed -n 's/^lu_token gpa=\(0x[0-9a-f]*\) .*/\1/p' /tmp/token.out)
	check "round $1: lu_token locked a page and named its guest-physical address ($gpa)" [ -n "$gpa" ]
	[ -n "$gpa" ] || { sed 's/^/# /' /tmp/token.out; kill $cpid $tpid; exit 1; }
	seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
	edu_dma fill "$seed" >/tmp/edu.out 2>&1
	erc=$?
	sed 's/^/# /' /tmp/edu.out
	check "round $1: the passthrough device (edu): its register set and 2 KiB DMAed into its buffer (seed $seed)" \
		[ $erc = 0 ]
	read -r up0 _ </proc/uptime
	echo "# round $1, before the live update: boot $boot, uptime $up0 s, counter $c0, token page at $gpa"
	# L1 saves this VM here and restores it after its kexec; lu_token
	# returns once L1's mark is in its page.
	MARK_WAIT_US=0 mark "live-update@$gpa"
	wait $tpid
	trc=$?
	sed 's/^/# /' /tmp/token.out
	read -r up1 _ </proc/uptime
	usleep 300000
	c1=$(cat /tmp/counter)
	echo "# round $1, after the live update: uptime $up1 s, counter $c1"
	check "round $1: the process holding the token page lived on and found L1's mark in it (lu_token exit $trc)" \
		[ $trc = 0 ]
	check "round $1: the same boot (boot_id $boot)" [ "$(cat /proc/sys/kernel/random/boot_id)" = "$boot" ]
	check "round $1: 32 MiB of tmpfs intact (md5)" [ "$(md5sum </tmp/blob)" = "$sum0" ]
	edu_dma check "$seed" >/tmp/edu.out 2>&1
	erc=$?
	sed 's/^/# /' /tmp/edu.out
	check "round $1: the passthrough device kept its register and buffer, and its DMA into L2's RAM works (edu_dma exit $erc)" \
		[ $erc = 0 ]
	check "round $1: the counting process lived on ($c0 -> $c1)" eval 'kill -0 $cpid && [ "$c1" -gt "$c0" ]'
	c0=$c1
}
# Two live updates in a row: L1 kexecs twice under this VM.
round 1
round 2
kill $cpid
exit $rc

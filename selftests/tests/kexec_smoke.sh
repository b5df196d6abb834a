#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The harness's kexec path, end to end: stage1 writes a pattern into the
# memmap= range and remembers the boot id; the runner kexecs (kexec -s) into
# the same kernel with the same command line; stage2 checks the boot id
# changed and every word of the pattern survived in the reserved range.
# Listed as "kexec:kexec_smoke" in a group whose CMDLINE has memmap=S$A.
state=/hvkit/kexec_smoke.state
echo "TAP version 13"
addr=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^memmap=[0-9]*[KMG]\$\(0x[0-9a-fA-F]*\)$/\1/p' | head -n1)
if [ -z "$addr" ]; then
	echo "not ok 1 the group's memmap=SIZE\$ADDR is on the command line"
	exit 1
fi
# A pattern that differs per run: derived from the first boot's id.
word() { printf '0x%s%08x' "$(echo "$1" | tr -d '-' | cut -c1-8)" "$2"; }

case "$1" in
stage1)
	id=$(cat /proc/sys/kernel/random/boot_id)
	i=0
	while [ $i -lt 64 ]; do
		devmem $((addr + i * 4096)) 64 "$(word "$id" $i)" || { echo "not ok 1 devmem write"; exit 1; }
		i=$((i + 1))
	done
	echo "$id" >"$state"
	echo "ok 1 stage1: pattern written at $addr, boot $id"
	;;
stage2)
	first=$(cat "$state" 2>/dev/null)
	now=$(cat /proc/sys/kernel/random/boot_id)
	if [ -n "$first" ] && [ "$first" != "$now" ] && grep -q 'hvkit.stage=2' /proc/cmdline; then
		echo "ok 1 stage2: new boot after kexec ($now)"
	else
		echo "not ok 1 stage2: boot id '$first' -> '$now', cmdline: $(cat /proc/cmdline)"
		exit 1
	fi
	bad=0 i=0
	while [ $i -lt 64 ]; do
		got=$(devmem $((addr + i * 4096)) 64)
		want=$(word "$first" $i)
		if [ "$(printf '%d' "$got")" != "$(printf '%d' "$want")" ]; then
			echo "# word $i: got $got want $want"
			bad=$((bad + 1))
		fi
		i=$((i + 1))
	done
	if [ $bad = 0 ]; then
		echo "ok 2 stage2: 64 words in the memmap range survived kexec"
	else
		echo "not ok 2 stage2: $bad of 64 words lost"
		exit 1
	fi
	;;
*)
	echo "usage: $0 stage1|stage2" >&2
	exit 2
	;;
esac

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# In L2, whose QEMU L1 bound to a P + E profile before it ran: CPUID on each
# vCPU (pinned) shows its core type's leaves, and the kernel's view (sysfs
# cache topology, from 0x8000001D on this AMD guest) agrees.
# shellcheck source=selftests/tests/hybrid_lib.sh
. /hvkit/tests/hybrid_lib
echo "TAP version 13"
CPUSYS=/sys/devices/system/cpu
# reg CPU LEAF[.SUB] N: register N (1 EAX .. 4 EDX) of that CPUID, as a number
reg() {
	v=$(cpuid_dump "$1" "$2" | awk -v n="$3" '{ print $(3 + n) }')
	echo $((0x$v))
}
for cpu in 0 1; do
	cpuid_dump "$cpu" 0x0 0x7 0x1a 0x16 0xa 0x80000000 0x80000026 0x8000001d.2 |
		sed 's/^/# /'
done
# A profile's Intel lines (0x1A, the hybrid bit) reach an Intel guest
# only, its AMD lines (0x80000026, the AMD cache leaves) an AMD one only.
amd=no
[ "$(cpuid_dump 0 0x0 | awk '{ print $5 }')" = 68747541 ] && amd=yes
if [ $amd = yes ]; then
	# leaf CPU LEAF: its four registers as one hex string
	leaf() { cpuid_dump "$1" "$2" | awk '{ print $4 $5 $6 $7 }'; }
	z=00000000
	check "AMD guest: no Intel line: 0x1A reads zeros on both vCPUs" \
		[ "$(leaf 0 0x1a)$(leaf 1 0x1a)" = "$z$z$z$z$z$z$z$z" ]
	check "AMD guest: the basic maximum not raised to 0x1A ($(reg 0 0x0 1))" \
		[ "$(reg 0 0x0 1)" -lt $((0x1a)) ]
	check "AMD guest: 7.EDX[15] (hybrid) clear" \
		[ $(($(reg 0 0x7 4) >> 15 & 1))$(($(reg 1 0x7 4) >> 15 & 1)) = 00 ]
else
	check "vCPU 0: 0x1A core type 0x40 (P), model 1" [ "$(reg 0 0x1a 1)" = $((0x40000001)) ]
	check "vCPU 1: 0x1A core type 0x20 (E), model 2" [ "$(reg 1 0x1a 1)" = $((0x20000002)) ]
	check "both: 7.EDX[15] hybrid" \
		[ $(($(reg 0 0x7 4) >> 15 & 1))$(($(reg 1 0x7 4) >> 15 & 1)) = 11 ]
fi
check "both: 0x16 base 2000 MHz, max 5000 / 3800" \
	[ "$(reg 0 0x16 1) $(reg 1 0x16 1) $(reg 0 0x16 2) $(reg 1 0x16 2)" = "2000 2000 5000 3800" ]
# Leaf 0xA never promises more than KVM's vPMU counts: on an AMD host
# KVM has no vPMU that 0xA describes (its own 0xA is empty), so the
# profile's 8 / 6 counters must not show; elsewhere at most those.
if [ $amd = yes ]; then
	check "0xA: KVM's (empty on an AMD host), not the profile's 8 / 6 counters" \
		[ "$(reg 0 0xa 1) $(reg 1 0xa 1) $(reg 0 0xa 4) $(reg 1 0xa 4)" = "0 0 0 0" ]
else
	gp0=$(($(reg 0 0xa 1) >> 8 & 255)) gp1=$(($(reg 1 0xa 1) >> 8 & 255))
	v0=$(($(reg 0 0xa 1) & 255)) v1=$(($(reg 1 0xa 1) & 255))
	# 6.1's KVM offers version 2 at most.
	check "0xA: at most 8 / 6 general counters ($gp0 / $gp1), version <= 2" \
		[ "$gp0" -le 8 -a "$gp1" -le 6 -a "$v0" -le 2 -a "$v1" -le 2 ]
fi
# The AMD lines: an AMD guest only.
if [ $amd = yes ]; then
	check "0x80000026: core type 0 / 1" \
		[ "$(($(reg 0 0x80000026 2) >> 28)) $(($(reg 1 0x80000026 2) >> 28))" = "0 1" ]
	# 0x80000026's levels agree with the guest's own 0xB: the core
	# level is 0xB.0 (shift, count, x2APIC id), the last one the
	# package of 0xB.1, types rise, every level has the x2APIC id, and
	# the subleaf past the last reads zeros.
	topo_ok() { # topo_ok CPU: "ok" or what differs
		c=$1 s0=$(reg "$1" 0xb 1) b0=$(reg "$1" 0xb 2) x=$(reg "$1" 0xb 4)
		s1=$(reg "$1" 0xb.1 1) b1=$(reg "$1" 0xb.1 2)
		[ $(($(reg "$1" 0xb 3) >> 8 & 255)) = 1 ] || { echo "no 0xB"; return; }
		k=0 last=0 ls=0 lc=0
		while [ $k -lt 5 ]; do
			a=$(reg "$c" 0x80000026.$k 1) b=$(reg "$c" 0x80000026.$k 2)
			t=$(($(reg "$c" 0x80000026.$k 3) >> 8 & 255))
			[ "$t" = 0 ] && break
			[ "$t" -gt "$last" ] || { echo "sub $k type $t"; return; }
			[ "$(reg "$c" 0x80000026.$k 4)" = "$x" ] || { echo "sub $k x2APIC"; return; }
			[ $(($(reg "$c" 0x80000026.$k 3) & 255)) = $k ] || { echo "sub $k ECX[7:0]"; return; }
			if [ $k = 0 ]; then
				[ "$((a & 31)) $((b & 65535))" = "$((s0 & 31)) $((b0 & 65535))" ] ||
					{ echo "core level $a $b, 0xB.0 $s0 $b0"; return; }
			fi
			last=$t ls=$((a & 31)) lc=$((b & 65535)) k=$((k + 1))
		done
		if [ $k = 0 ] || [ "$ls $lc" != "$((s1 & 31)) $((b1 & 65535))" ]; then
			echo "top level shift $ls count $lc, 0xB.1 $((s1 & 31)) $((b1 & 65535))"
			return
		fi
		[ "$(leaf "$c" 0x80000026.$k)" = "$z$z$z$z" ] || { echo "sub $k not zeros"; return; }
		echo ok
	}
	for cpu in 0 1; do
		cpuid_dump "$cpu" 0xb 0xb.1 0x80000026.1 0x80000026.2 0x80000026.3 | sed 's/^/# /'
	done
	t0=$(topo_ok 0) t1=$(topo_ok 1)
	check "0x80000026: levels agree with 0xB on both vCPUs ($t0 / $t1)" \
		[ "$t0 $t1" = "ok ok" ]
	check "0x8000001D.2: L2 8 / 16 ways" \
		[ "$((($(reg 0 0x8000001d.2 2) >> 22) + 1)) $((($(reg 1 0x8000001d.2 2) >> 22) + 1))" = "8 16" ]
	check "0x80000006: L2 1280 / 2048 KiB" \
		[ "$(($(reg 0 0x80000006 3) >> 16)) $(($(reg 1 0x80000006 3) >> 16))" = "1280 2048" ]
fi
# The kernel's view. Without TOPOEXT (L1's KVM does not offer it to L2) an
# AMD guest builds its cache topology from 0x80000005/0x80000006.
for cpu in 0 1; do
	for i in 0 1 2; do
		d=$CPUSYS/cpu$cpu/cache/index$i
		echo "# kernel: cpu$cpu index$i L$(cat "$d/level") $(cat "$d/type") $(cat "$d/size") $(cat "$d/ways_of_associativity")-way shared $(cat "$d/shared_cpu_list")"
	done
done
grep 'flags' /proc/cpuinfo | head -n1 | grep -o 'topoext' | sed 's/^/# guest flag: /'
kv() { # kv CPU INDEX: "size ways" of that cache in sysfs
	echo "$(cat $CPUSYS/cpu"$1"/cache/index"$2"/size) $(cat $CPUSYS/cpu"$1"/cache/index"$2"/ways_of_associativity)"
}
# L1 ways are not compared: 0x80000005 holds the number of ways (AMD APM),
# but Linux's legacy path decodes it with 0x80000006's code table (8 ways
# shows as 16, 12 as 64).
size() { cat $CPUSYS/cpu"$1"/cache/index"$2"/size; }
check "kernel: cpu0 L1d 48K, L1i 32K, L2 1280K 8-way (P)" \
	[ "$(size 0 0)|$(size 0 1)|$(kv 0 2)" = "48K|32K|1280K 8" ]
check "kernel: cpu1 L1d 32K, L1i 48K, L2 2048K 16-way (E)" \
	[ "$(size 1 0)|$(size 1 1)|$(kv 1 2)" = "32K|48K|2048K 16" ]
sizes=$(awk -F': ' '/^cache size/ { printf "%s|", $2 }' /proc/cpuinfo)
echo "# /proc/cpuinfo cache size: $sizes"
check "/proc/cpuinfo: cache size 1280 KB (cpu0), 2048 KB (cpu1)" [ "$sizes" = "1280 KB|2048 KB|" ]
grep -m1 'model name' /proc/cpuinfo | sed 's/^/# /'
# The guest kernel found nothing wrong with the topology it was shown.
fw=$(dmesg | grep -ciE 'firmware bug.*(apic|topolog|cpu)|topology.*(mismatch|bug)')
dmesg | grep -iE 'firmware bug|topolog' | sed 's/^/# dmesg: /'
check "dmesg: no topology or APIC firmware-bug lines ($fw)" [ "$fw" = 0 ]
# A feature change made while this guest runs (not while it is paused):
# at each mark L1's mark hook (hybrid_markhook) clears, then restores,
# 0x1.ECX[0] (SSE3) on every vCPU; both vCPUs must see it within 30 s.
# bit0 CPU: 0x1.ECX[0] on that CPU now
bit0() { echo $(($(reg "$1" 0x1 3) & 1)); }
# wait_bits WANT: seconds (tenths) until both vCPUs show WANT, or "no"
wait_bits() {
	i=0
	while [ $i -lt 300 ]; do
		[ "$(bit0 0)$(bit0 1)" = "$1$1" ] && { echo "$i"; return; }
		usleep 100000
		i=$((i + 1))
	done
	echo no
}
before="$(bit0 0)$(bit0 1)"
mark hybrid-clear-sse3
t=$(wait_bits 0)
check "running L2: SSE3 ($before before) cleared by L1 on both vCPUs (${t}/10 s after the mark)" \
	[ "$before" = 11 -a "$t" != no ]
mark hybrid-restore-sse3
t=$(wait_bits 1)
check "running L2: SSE3 restored by L1 on both vCPUs (${t}/10 s after the mark)" [ "$t" != no ]
exit $rc

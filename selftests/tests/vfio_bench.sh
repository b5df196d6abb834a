#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vfio_preserve benchmark in L1, side by side with vfio-pci's reset path:
#  1. device close->open-ready time through VFIO ioctls (vfio_dev time:
#     open the device fd, close it; medians of ROUNDS rounds of N cycles),
#     and the resets ftrace saw per cycle;
#  2. in group bench-vfio-vmm (manual) only: the blackout of a VMM
#     restart with the device passed through (vmm_restart: QEMU stop ->
#     QEMU start with the device realized and QMP answering), QEMU -S with
#     -device vfio-pci,host=BDF: with preserve and no_user_reset (QEMU's
#     machine reset issues VFIO_DEVICE_RESET) against vfio-pci's behaviour.
# Figures never fail the test; the checks are that every run worked.
# shellcheck source=selftests/tests/vfio_lib.sh
. /hvkit/tests/vfio_lib
echo "TAP version 13"
vfio_devices
ROUNDS=${ROUNDS:-5} N=${N:-10} RESTARTS=${RESTARTS:-9} VMM=0
# make check (BENCH_QUICK, lib/vm.sh): fewer rounds and cycles; it shows
# that the benchmark runs, make bench gives the figures.
if [ "${BENCH_QUICK:-no}" = yes ]; then
	ROUNDS=3 N=5
	echo "| make check's quick run ($ROUNDS rounds x $N cycles, beside other VMs): figures come from make bench"
fi
[ "${GROUP:-}" = bench-vfio-vmm ] && VMM=1
W=/tmp/vfio_bench
mkdir -p $W
check "bind $DEV" hvkitctl vfio bind "$DEV"
reset_trace_on

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# ioctl_path NAME: ROUNDS x (vfio_dev time DEV N) -> $W/NAME.{open,close,cycle,resets}
ioctl_path() {
	: >$W/$1.open; : >$W/$1.close; : >$W/$1.cycle; : >$W/$1.resets
	for r in $(seq "$ROUNDS"); do
		reset_trace_clear
		if ! vfio_dev time "$DEV" "$N" >$W/$1.$r 2>&1; then
			sed 's/^/# /' $W/$1.$r
			return 1
		fi
		field open_us_median $W/$1.$r >>$W/$1.open
		field close_us_median $W/$1.$r >>$W/$1.close
		field cycle_us_median $W/$1.$r >>$W/$1.cycle
		echo "$(reset_calls) $N" | awk '{ printf "%.2f\n", $1 / $2 }' >>$W/$1.resets
		echo "# $1 round $r: $(tr '\n' ' ' <$W/$1.$r)"
	done
}

check "reset path (preserve off): $ROUNDS x $N close/open cycles" ioctl_path reset
check "arm preserve" hvkitctl vfio preserve "$DEV"
check "preserve path: $ROUNDS x $N close/open cycles" ioctl_path preserve
check "disarm" hvkitctl vfio preserve "$DEV" off

if [ "$VMM" = 1 ]; then
	# VMM restart: QEMU -S under L1's KVM (the VMM a host runs), no guest to
	# boot; 64 MiB of guest RAM is mapped for DMA through the IOMMU at every
	# start, in both paths.
	qemu="/hvkit/bin/qemu-system-x86_64 -L /usr/share/qemu -M q35 -accel kvm -m 64 -nodefaults -display none -S -device vfio-pci,host=$DEV,rombar=0"
	restart() { # restart NAME
		if vmm_restart "$RESTARTS" -- $qemu >$W/$1.vmm 2>&1; then
			sed 's/^/# /' $W/$1.vmm | grep round=
		else
			sed 's/^/# /' $W/$1.vmm
			return 1
		fi
	}
	reset_trace_clear
	check "VMM restart, reset path: $RESTARTS restarts of QEMU with $DEV" restart vmm_reset
	reset_calls >$W/vmm_reset.resets
	check "arm preserve with no_user_reset" hvkitctl vfio preserve "$DEV" --no-user-reset
	reset_trace_clear
	check "VMM restart, preserve path: $RESTARTS restarts of QEMU with $DEV" restart vmm_preserve
	reset_calls >$W/vmm_preserve.resets
	check "disarm" hvkitctl vfio preserve "$DEV" off
	reset_trace_off
fi
check "unbind $DEV" hvkitctl vfio unbind "$DEV"

m() { median <"$W/$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }
{
	echo "| vfio_preserve: device close->open-ready through VFIO ($DEV, virtio-rng with FLR), medians of $ROUNDS rounds x $N cycles"
	echo "| path | open (us) | close (us) | close+open cycle (us) | resets per cycle (ftrace) |"
	echo "| vfio-pci reset path | $(m reset.open) | $(m reset.close) | $(m reset.cycle) | $(m reset.resets 2>/dev/null) |"
	echo "| preserve armed | $(m preserve.open) | $(m preserve.close) | $(m preserve.cycle) | $(m preserve.resets 2>/dev/null) |"
	echo "| reset path / preserve path | $(ratio "$(m reset.open)" "$(m preserve.open)") | $(ratio "$(m reset.close)" "$(m preserve.close)") | $(ratio "$(m reset.cycle)" "$(m preserve.cycle)") | |"
	if [ "$VMM" = 1 ]; then
		echo "| VMM restart blackout (QEMU stop -> QEMU start with the device ready, -S, 64 MiB, KVM in L1), medians of $RESTARTS restarts"
		echo "| path | stop (us) | start (us) | blackout (us) | resets in all restarts (ftrace) |"
		for p in reset preserve; do
			echo "| $([ $p = reset ] && echo "vfio-pci reset path" || echo "preserve + no_user_reset") | $(field stop_us_median $W/vmm_$p.vmm) | $(field start_us_median $W/vmm_$p.vmm) | $(field blackout_us_median $W/vmm_$p.vmm) | $(cat $W/vmm_$p.resets 2>/dev/null) |"
		done
		echo "| reset path / preserve path | | | $(ratio "$(field blackout_us_median $W/vmm_reset.vmm)" "$(field blackout_us_median $W/vmm_preserve.vmm)") | |"
	fi
} >$W/table
cat $W/table
exit $rc

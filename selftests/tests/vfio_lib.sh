#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Shared helpers of the vfio_preserve shell tests (sourced, not run): the
# test devices of the "vfio" groups, the virtio state a test writes through
# VFIO (vfio_dev), and a reset witness independent of vfio_preserve's own
# counters (ftrace on the kernel's reset functions).
# shellcheck source=selftests/tests/tap_lib.sh
. /hvkit/tests/tap_lib
PCI=/sys/bus/pci/devices
# The driver an unbound test device goes back to: virtio-pci where it is a
# module loaded by PID 1's coldplug (stock kernel), none where it is built
# in and blacklisted (debug kernel).
# shellcheck disable=SC2034 # used by the tests that source this
if [ -e /sys/module/virtio_pci/initstate ]; then NATIVE=virtio-pci; else NATIVE=none; fi
T=/sys/kernel/debug/tracing

# group_size BDF: devices in BDF's IOMMU group; bridges do not count
# (vfio_preserve's policy, and VFIO's).
group_size() {
	_n=0
	for _m in "$PCI/$1"/iommu_group/devices/*; do
		case "$(cat "$_m/class")" in 0x0604*) ;; *) _n=$((_n + 1)) ;; esac
	done
	echo $_n
}

# vfio_devices: sets DEV (the virtio-rng behind a root port, the only
# non-bridge device of its IOMMU group), DEV2 (a second such one, where
# the group has one), PAIR1 PAIR2 (two virtio-rng behind a PCIe-to-PCI
# bridge, one IOMMU group) and ROOTDEV (one on the root bus, where the
# group "vfio" puts one); fails (exit 1) without DEV: the vfio groups
# give every VM these devices.
vfio_devices() {
	DEV='' DEV2='' PAIR1='' PAIR2='' ROOTDEV=''
	for _d in "$PCI"/*; do
		[ "$(cat "$_d/vendor")" = 0x1af4 ] || continue
		case "$(cat "$_d/device")" in 0x1005|0x1044) ;; *) continue ;; esac
		# One on the root bus (ROOTDEV), beside the chipset's functions.
		case "$(basename "$_d")" in
		0000:00:*) [ -n "$ROOTDEV" ] || ROOTDEV=$(basename "$_d"); continue ;;
		esac
		_g=$(basename "$(readlink "$_d/iommu_group")")
		_n=$(group_size "$(basename "$_d")")
		echo "# $(basename "$_d") $(cat "$_d/vendor"):$(cat "$_d/device") group $_g ($_n non-bridge devices) reset_method: $(cat "$_d/reset_method" 2>/dev/null)"
		if [ "$_n" = 1 ] && [ -z "$DEV" ]; then
			DEV=$(basename "$_d")
		elif [ "$_n" = 1 ]; then
			[ -n "$DEV2" ] || DEV2=$(basename "$_d")
		elif [ -z "$PAIR1" ]; then
			PAIR1=$(basename "$_d")
		elif [ -z "$PAIR2" ]; then
			PAIR2=$(basename "$_d")
		fi
	done
	[ -n "$DEV" ] || { echo "not ok 1 the group's virtio device alone in an IOMMU group: not found"; exit 1; }
}

# field KEY FILE: the value of "KEY=value" in FILE (vfio_dev's output).
field() { sed -n "s/^$1=//p" "$2" | head -n1; }

# status_field BDF KEY: a "KEY value" line of preserve_status.
status_field() { sed -n "s/^$2 //p" "$PCI/$1/preserve_status"; }

# kept_has BDF WORD: preserve_status lists WORD in kept_names.
kept_has() { status_field "$1" kept_names | grep -qw "$2"; }

# driver_of BDF: the name of the bound driver, or "none".
driver_of() {
	if [ -e "$PCI/$1/driver" ]; then
		basename "$(readlink "$PCI/$1/driver")"
	else
		echo none
	fi
}

# Reset witness: calls of the functions that really reset (a function
# level reset, a secondary bus reset), counted by ftrace. Not the
# reset-method functions that take a "probe" argument: vfio-pci probes
# for a bus reset after every close, which resets nothing.
# The witness is part of every vfio test: without ftrace the test fails.
RESET_FUNCS="pcie_flr pcibios_reset_secondary_bus pci_reset_secondary_bus"
reset_trace_on() {
	if [ -w "$T/set_ftrace_filter" ]; then
		echo nop >"$T/current_tracer"
		: >"$T/set_ftrace_filter"
		for f in $RESET_FUNCS; do
			echo "$f" >>"$T/set_ftrace_filter" 2>/dev/null
		done
		# Each function must really be traced, or a count of 0 means nothing.
		for f in pcie_flr pci_reset_secondary_bus; do
			grep -qx "$f" "$T/set_ftrace_filter" || {
				echo "not ok 999 reset witness: ftrace cannot trace $f"
				exit 1
			}
		done
		echo function >"$T/current_tracer" && : >"$T/trace" && return 0
	fi
	echo "not ok 999 reset witness: no ftrace function tracer in $T"
	exit 1
}
# reset_calls: reset-function calls since the last reset_trace_on/clear.
reset_calls() { grep -cE " ($(echo "$RESET_FUNCS" | tr ' ' '|')) <-" "$T/trace"; }
# reset_trace_show: the traced calls, as TAP comments.
reset_trace_show() { grep -v '^#' "$T/trace" | sed 's/^/# trace: /'; }
reset_trace_clear() { : >"$T/trace"; }
reset_trace_off() { echo nop >"$T/current_tracer"; : >"$T/set_ftrace_filter"; }

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# hvkit-l2's mark hook of the guest_idlepoll benchmark (L1 side, run as
# "idlepoll_benchhook NAME" right after L1 snapshotted L2's mark NAME):
# appends, for each vCPU thread of L2's QEMU, the L1 CPU it last ran on
# and its context switches so far to /tmp/ipb.hook, as
# "NAME vCPU-thread cpu nonvoluntary voluntary". idlepoll_bench.sh turns
# two marks into the window's figures: a vCPU thread preempted in L1
# (nonvoluntary switches) or both vCPUs on one L1 CPU stalls L2's
# ping-pong for a scheduler slice, whatever idles in L2.
name=$1
pid=$(pidof qemu-system-x86_64 | awk '{ print $1 }')
[ -n "$pid" ] || { echo "no qemu-system-x86_64"; exit 1; }
for t in /proc/"$pid"/task/*; do
	case "$(cat "$t/comm")" in
	"CPU "*) ;;
	*) continue ;;
	esac
	st=$(cat "$t/stat")
	# Fields after the command: the 37th is the CPU it last ran on.
	# shellcheck disable=SC2086 # split on purpose
	set -- ${st##*) }
	v=$(sed -n 's/^CPU \([0-9]*\).*/\1/p' "$t/comm")
	awk -v m="$name" -v v="$v" -v c="${37}" '
		$1 == "voluntary_ctxt_switches:" { vo = $2 }
		$1 == "nonvoluntary_ctxt_switches:" { nv = $2 }
		END { print m, "vcpu" v, c, nv, vo }' "$t/status" >>/tmp/ipb.hook
done
exit 0

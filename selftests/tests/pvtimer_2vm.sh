#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Two VMs on one agent (group nested-pvtimer-2vm): L1 runs pvtimer_agent
# and one "hvkitctl pvtimer serve" per VM; two L2s, each with its own
# ivshmem-doorbell device, run pvtimer_l2's short form (a lapic-deadline
# run, then a guest_pvtimer run), b booting while a runs. Meanwhile L1
# samples the agent's status: both VMs must be attached at once, and the
# agent must fire deadlines of each vCPU of each VM. Then both servers
# are killed and the agent must have nothing attached.
# shellcheck source=selftests/tests/tap_lib.sh
. /hvkit/tests/tap_lib
# shellcheck source=selftests/tests/pvtimer_lib.sh
. /hvkit/tests/pvtimer_lib
echo "TAP version 13"
n=200
VMS="a b"

check "pvtimer_agent loaded" [ -d /sys/module/pvtimer_agent ]
for v in $VMS; do
	: >"/tmp/serve-$v.log"
	hvkitctl pvtimer serve --socket "/tmp/pvt-$v.sock" --vcpus 2 >"/tmp/serve-$v.log" 2>&1 &
	echo $! >"/tmp/serve-$v.pid"
done
for v in $VMS; do
	i=0
	while [ $i -lt 100 ] && ! grep -q '^pvtimer serve: listening on' "/tmp/serve-$v.log"; do
		usleep 100000
		i=$((i + 1))
	done
	check "server $v listens on /tmp/pvt-$v.sock" grep -q '^pvtimer serve: listening on' "/tmp/serve-$v.log"
done
[ $rc = 0 ] || exit 1

# The agent's status every half second while the L2s run, all kept.
: >/tmp/poll.on
: >/tmp/status.log
(
	while [ -e /tmp/poll.on ]; do
		hvkitctl pvtimer status >>/tmp/status.log 2>&1
		usleep 500000
	done
) &
poller=$!

# One L2 boots at a time: b starts once a's PID 1 reported (two L2s in
# early boot at once on one L1 CPU triple-faulted in two runs of three,
# the emulator's early-boot family). The mark hook then holds each L2 at
# its mark lapic-start until the other is there too: both run their
# timer loads at the same time.
for v in $VMS; do
	peer=/tmp/l2a
	[ $v = a ] && peer=/tmp/l2b
	PVT_PEER_OUT=$peer L2_OUT=/tmp/l2$v L2_MARK_HOOK=/hvkit/tests/pvtimer_markhook hvkit-l2 -- \
		-chardev "socket,id=pvt,path=/tmp/pvt-$v.sock" \
		-device ivshmem-doorbell,chardev=pvt,vectors=2 >"/tmp/l2$v.out" 2>&1 &
	echo $! >"/tmp/l2$v.pid"
	i=0
	while [ $i -lt 600 ] && ! grep -q '^HVKIT: ' "/tmp/l2$v/results.txt" 2>/dev/null &&
		kill -0 "$(cat "/tmp/l2$v.pid")" 2>/dev/null; do
		usleep 100000
		i=$((i + 1))
	done
done
for v in $VMS; do
	wait "$(cat "/tmp/l2$v.pid")"
	echo $? >"/tmp/l2$v.rc"
done
rm -f /tmp/poll.on
wait $poller
for v in $VMS; do
	# hvkit-l2's lines, its L2's TAP results named l2-a/..., l2-b/...
	sed -e "s@^\\(ok\\|not ok\\) \\([0-9]*\\) l2/@\\1 \\2 l2-$v/@" -e "s/^# /# l2-$v: /" "/tmp/l2$v.out"
	check "L2 $v ran its tests (hvkit-l2 exit $(cat "/tmp/l2$v.rc"))" [ "$(cat "/tmp/l2$v.rc")" = 0 ]
done
amax=$(awk -F': *' '$1 == "attached" && $2 > m { m = $2 } END { print m + 0 }' /tmp/status.log)
echo "# $(grep -c '^attached' /tmp/status.log) samples of the agent's status"
check "both VMs were attached to the one agent at once (most attached: $amax)" [ "$amax" = 2 ]
# Samples in which the agent fired deadlines of both VMs since the sample
# before: the two were served at the same time.
qpid_of() { sed -n 's/^pvtimer serve: VM pid \([0-9]*\) attached.*/\1/p' "/tmp/serve-$1.log" | head -n1; }
both=$(awk -v A="$(qpid_of a)" -v B="$(qpid_of b)" '
	/^agent_cpu:/ {
		if (n) { if (n > 1 && fa > pa && fb > pb) both++; pa = fa; pb = fb }
		n++; fa = fb = 0
	}
	NF == 8 && $3 ~ /^[0-9]+$/ && $2 == A { fa += $7 }
	NF == 8 && $3 ~ /^[0-9]+$/ && $2 == B { fb += $7 }
	END { if (n > 1 && fa > pa && fb > pb) both++; print both + 0 }' /tmp/status.log)
check "the agent served both VMs at the same time (in $both half-second samples it fired deadlines of each)" \
	[ "$both" -gt 0 ]
# fired VM: the most the agent fired for each vCPU of VM's QEMU (the
# "id pid vcpu tsc_offset seq fired_seq fired pending_ns" rows).
fired() {
	qp=$(qpid_of "$1")
	awk -v pid="${qp:-none}" '
		$2 == pid && NF == 8 && $3 ~ /^[0-9]+$/ && $7 > f[$3] { f[$3] = $7 }
		END { for (c = 0; c < 2; c++) printf "%s%d", (c ? " " : ""), f[c]; print "" }' /tmp/status.log
}
for v in $VMS; do
	sed "s/^/# serve-$v: /" "/tmp/serve-$v.log" | head -n 8
	f=$(fired "$v")
	check "the agent fired deadlines of both vCPUs of VM $v (fired per vCPU: '$f')" \
		eval 'set -- $f; [ $# = 2 ] && [ "$1" -gt 0 ] && [ "$2" -gt 0 ]'
done
for v in $VMS; do
	kill -KILL "$(cat "/tmp/serve-$v.pid")" 2>/dev/null
	wait "$(cat "/tmp/serve-$v.pid")" 2>/dev/null
done
pvt_wait_detached /tmp/status.end 30
check "nothing attached after both servers died ($(grep '^attached' /tmp/status.end))" \
	grep -q '^attached: *0$' /tmp/status.end
exit $rc

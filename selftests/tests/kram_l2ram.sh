#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A guest's RAM in a kram area (group nested-kram-l2): L1 creates an area,
# boots L2 with unmodified QEMU using it as memory-backend-file, and after
# L2 exits finds in the area the token L2 wrote into its own memory.
# shellcheck source=selftests/tests/kram_lib.sh
. /hvkit/tests/kram_lib
echo "TAP version 13"
kram_need_region
mib=${L2_MEM:-256}
check "create area 'l2ram' ($mib MiB)" hvkitctl kram create l2ram "${mib}M" --version l2ram/1
[ $rc = 0 ] || exit 1
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -c /dev/kram_areas/l2ram ] && break; sleep 0.1; done
if grep -q hvkit.memfd /proc/cmdline; then
hvkit-l2 -- -object "memory-backend-memfd,id=kram,size=${mib}M,share=on" \
	-machine memory-backend=kram
else
hvkit-l2 -- -object "memory-backend-file,id=kram,size=${mib}M,mem-path=/dev/kram_areas/l2ram,share=on,align=2M" \
	-machine memory-backend=kram
fi
l2rc=$?
grep -E '^(exits|halt_exits|insn_emulation|irq_exits|signal_exits|request_irq_exits|pf_taken|pf_fixed|pf_guest|pf_spurious|pf_emulate|pf_fast|mmio_exits|io_exits) ' \
	/tmp/l2/stats | sed 's/^/# L1 KVM stats of L2: /'

check "L2 booted and ran with its RAM in the kram area" [ $l2rc = 0 ]
# kram maps an aligned 2 MiB of the area with one PMD (a DAX mapping), so
# L1's KVM maps L2's RAM with 2 MiB pages where L2's own tables do.
p4k=$(sed -n 's/^pages_4k //p' /tmp/l2/stats)
p2m=$(sed -n 's/^pages_2m //p' /tmp/l2/stats)
echo "# L1's KVM mappings of L2 at its end: pages_4k ${p4k:-?}, pages_2m ${p2m:-?}; kram mapping faults: 4 KiB $(cat /sys/class/misc/kram/map_faults_pte), 2 MiB $(cat /sys/class/misc/kram/map_faults_pmd)"
if ! grep -q hvkit.memfd /proc/cmdline; then
	check "L1's KVM mapped L2's RAM in kram with 2 MiB pages (pages_2m ${p2m:-none})" \
		[ "${p2m:-0}" -gt 0 ]
fi
grep -q 'mem-path=/dev/kram_areas/l2ram' /proc/[0-9]*/cmdline 2>/dev/null &&
	echo "# QEMU still running?"
token=$(tr -d '\r' </tmp/l2/console.log | sed -n 's/.*# kram-l2-token \([0-9a-f-]*\).*/\1/p' | head -n1)
check "L2 reported a token" [ -n "$token" ]
# An empty token would match the literal in L2's initramfs: no token, no pass.
check "the token L2 stored is in the area" sh -c \
	'[ -n "$1" ] && grep -q -a -F "KRAMDATA:$1" /dev/kram_areas/l2ram' - "$token"
hvkitctl kram areas | sed 's/^/# /'
check "area closed after QEMU exited (users 0)" sh -c \
	"hvkitctl kram areas | grep -q '^l2ram .* 0 /dev/kram_areas/l2ram'"
check "delete area 'l2ram'" hvkitctl kram delete l2ram
exit $rc

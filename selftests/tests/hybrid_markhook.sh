#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# hvkit-l2's mark hook of the kvm_hybrid end-to-end test (L1 side, run as
# "hybrid_markhook NAME" while L2 runs, after hybrid_l2 reported mark NAME):
#   hybrid-clear-sse3    hvkitctl hybrid clear ID 0x1.0 ecx 0x1 (all vCPUs)
#   hybrid-restore-sse3  and its restore
# ID is the binding hybrid_hook made (/tmp/hybrid.id). L2 checks that its
# running vCPUs see the change.
id=$(cat /tmp/hybrid.id 2>/dev/null)
[ -n "$id" ] || { echo "no /tmp/hybrid.id"; exit 1; }
case "$1" in
hybrid-clear-sse3)
	hvkitctl hybrid clear "$id" 0x1.0 ecx 0x1
	;;
hybrid-restore-sse3)
	hvkitctl hybrid restore "$id" 0x1.0 ecx 0x1
	;;
*)
	exit 0
	;;
esac

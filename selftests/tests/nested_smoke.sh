#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The nested suite end to end: L1 (this VM) runs KVM (kvm_amd); hvkit-l2
# boots L2 with the group's L2 modules and tests; L2's results come back
# here, and L1 reads L2's exit counts from its own KVM debugfs.
echo "TAP version 13"
hvkit-l2
rc=$?
for s in exits halt_exits io_exits; do
	v=$(awk -v s="$s" '$1 == s { print $2 }' /tmp/l2/stats)
	echo "# L1 KVM debugfs: L2 $s = ${v:-missing}"
done
exits=$(awk '$1 == "exits" { print $2 }' /tmp/l2/stats)
if [ "${exits:-0}" -gt 0 ] 2>/dev/null; then
	echo "ok 1000 L1 counted L2 VM exits: $exits"
else
	echo "not ok 1000 L1 counted no L2 VM exits ('${exits:-missing}')"
	rc=1
fi
exit $rc

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# kvm_hybrid under load (hybrid_stress.c): bind/clear/restore/unbind
# cycles against four vCPUs running CPUID and re-setting their tables,
# then "rmmod kvm_hybrid" while a binding is in force and the vCPUs run:
# they must read their stock CPUID again. Loaded again afterwards for the
# group's next tests. KASAN, lockdep and kmemleak on the debug kernel.
# shellcheck source=selftests/tests/hybrid_lib.sh
. /hvkit/tests/hybrid_lib
secs=3
[ "${SUITE_KIND:-stock}" = debug ] && secs=5
mark=/tmp/hybrid_stress.bound
rm -f "$mark"
hybrid_stress "$secs" "$mark" >/tmp/hybrid_stress.out 2>&1 &
pid=$!
i=0
# hybrid_stress bounds its own waits (up to about 5 min when it fails).
while [ ! -e "$mark" ] && [ $i -lt 4000 ] && kill -0 "$pid" 2>/dev/null; do
	usleep 100000
	i=$((i + 1))
done
# The program closed /dev/kvm_hybrid before the marker: nothing holds it.
unloaded=1
if [ -e "$mark" ]; then
	rmmod kvm_hybrid && unloaded=0
fi
wait "$pid"
st=$?
cat /tmp/hybrid_stress.out
n=3
check "rmmod kvm_hybrid with a VM bound and running" [ "$unloaded" = 0 ]
check "hybrid_stress exit status 0 ($st)" [ "$st" = 0 ]
check "kvm_hybrid loaded again" modprobe kvm_hybrid
dmesg | grep 'kvm_hybrid: binding [0-9]* (pid [0-9]*): unbound at unload' | tail -n 1 | sed 's/^/# /'
exit $rc

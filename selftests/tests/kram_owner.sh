#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A kernel owner's pool pages are out of userspace's reach (issue 14, kram
# item 3): kram_bench hold=2 takes two pool pages with its kernel tag and
# writes a marker into them (hold=65, more than it may hold, is refused
# first); /dev/kram must refuse pread and pwrite of
# them (EPERM) while it serves a user page beside them, "free" of the
# kernel tag must be refused, and the pages go back at rmmod. Needs
# kram_bench.ko (built with the modules; the debug suite's kunit group).
# shellcheck source=selftests/tests/kram_lib.sh
. /hvkit/tests/kram_lib
echo "TAP version 13"
kram_need_region
ko=/lib/modules/$(uname -r)/updates/kram_bench.ko
[ -f "$ko" ] || { echo "not ok 1 no $ko (the build's modules)"; exit 1; }
ktag=0x4b424e43 utag=0x80000051
d=/tmp/kram_owner
rm -rf $d && mkdir -p $d

# dd_err ARGS...: dd's error message ("" when it succeeded).
dd_err() { dd "$@" 2>&1 >/dev/null | grep -v records | head -n1; }
# eperm MESSAGE: the message is EPERM's.
eperm() { case "$1" in *"Operation not permitted"*) return 0 ;; esac; return 1; }

check "a user page to compare with (tag $utag)" sh -c \
	"hvkitctl kram alloc --tag $utag --count 1 --zero >$d/user"
uidx=$(head -n1 $d/user)
# More than it can hold: refused before it takes anything.
n0=$(dmesg | grep -c 'kram_bench: hold: 0\.\.64')
check "insmod kram_bench hold=65: refused" sh -c "! insmod $ko hold=65 2>/dev/null"
check "  with the reason (dmesg: 'hold: 0..64')" \
	[ "$(dmesg | grep -c 'kram_bench: hold: 0\.\.64')" -gt "$n0" ]
check "  and no page taken" [ "$(hvkitctl kram walk --tag $ktag --count-only)" = 0 ]
check "insmod kram_bench hold=2: a kernel owner of two pool pages" \
	insmod "$ko" hold=2
hvkitctl kram walk --tag $ktag >$d/kernel
check "walk shows the kernel owner's two pages" [ "$(grep -c . $d/kernel)" = 2 ]
kidx=$(head -n1 $d/kernel)
echo "# user page $uidx, kernel pages $(paste -sd' ' $d/kernel)"
check "pread of the user page works" \
	dd if=/dev/kram of=$d/u.read bs=4096 skip="$uidx" count=1 2>/dev/null
e=$(dd_err if=/dev/kram of=$d/k.read bs=4096 skip="$kidx" count=1)
echo "# pread of kernel page $kidx: ${e:-no error}"
check "pread of a kernel owner's page: EPERM" eperm "$e"
check "nothing of it was read" sh -c "! grep -q 'kernel owner' $d/k.read 2>/dev/null"
check "pwrite of the user page works" \
	dd if=/dev/zero of=/dev/kram bs=4096 seek="$uidx" count=1 conv=notrunc 2>/dev/null
e=$(dd_err if=/dev/zero of=/dev/kram bs=4096 seek="$kidx" count=1 conv=notrunc)
echo "# pwrite of kernel page $kidx: ${e:-no error}"
check "pwrite of a kernel owner's page: EPERM" eperm "$e"
# hvkitctl refuses a kernel tag itself; with the user tag the request
# reaches kram, which must see that the page is not that tag's.
e=$(hvkitctl kram free --tag $utag "$kidx" 2>&1)
echo "# free of kernel page $kidx as tag $utag: ${e:-no error}"
check "free of a kernel owner's page under a user tag: EPERM" eperm "$e"
check "walk still shows the kernel owner's two pages" \
	[ "$(hvkitctl kram walk --tag $ktag --count-only)" = 2 ]
check "rmmod kram_bench: the kernel owner's pages go back" rmmod kram_bench
check "walk: no page of the kernel tag left" \
	[ "$(hvkitctl kram walk --tag $ktag --count-only)" = 0 ]
check "free the user page" hvkitctl kram free --tag $utag "$uidx"
exit $rc

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Under kernel lockdown (integrity) no userspace path writes persistent
# memory: write to an area, pwrite to /dev/kram and writable mmap are
# refused, reading stays allowed. Lockdown cannot be lifted, and under it
# no unsigned module loads: run this last in its VM (group kram-warn).
# shellcheck source=selftests/tests/kram_lib.sh
. /hvkit/tests/kram_lib
echo "TAP version 13"
kram_need_region
d=/tmp/kram_lockdown
rm -rf $d && mkdir -p $d
L=/sys/kernel/security/lockdown
[ -e $L ] || mount -t securityfs securityfs /sys/kernel/security
check "securityfs has the lockdown file" [ -w $L ]
check "create area 'ld' and fill it" sh -c \
	". /hvkit/tests/kram_lib; hvkitctl kram create ld 4p && sleep 0.5 && fill_area ld 4 $d"
check "allocate a pool page with tag 0x80000042" sh -c \
	"hvkitctl kram alloc --tag 0x80000042 --count 1 >$d/alloc"
idx=$(head -n1 $d/alloc)
echo "# pool page: $idx"
check "before lockdown: a write to the area works" sh -c \
	"dd if=/dev/zero of=/dev/kram_areas/ld bs=4096 count=1 conv=notrunc 2>/dev/null"
check "before lockdown: a pwrite of the pool page works" sh -c \
	"dd if=/dev/zero of=/dev/kram bs=4096 seek=$idx count=1 conv=notrunc 2>/dev/null"
check "lockdown=integrity" sh -c "echo integrity >$L"
echo "# $(cat $L)"
check "write to an area refused" sh -c \
	"! dd if=/dev/zero of=/dev/kram_areas/ld bs=4096 count=1 conv=notrunc 2>/dev/null"
check "pwrite of a user pool page refused" sh -c \
	"! dd if=/dev/zero of=/dev/kram bs=4096 seek=$idx count=1 conv=notrunc 2>/dev/null"
check "reading the area still works" sh -c \
	"dd if=/dev/kram_areas/ld of=/dev/null bs=4096 count=4 2>/dev/null"
check "reading the pool page still works" sh -c \
	"dd if=/dev/kram of=/dev/null bs=4096 skip=$idx count=1 2>/dev/null"
check "writable mmap of the area refused, read-only allowed" kram_pin --mmap-check ld
check "the log says lockdown refused dd's write" sh -c \
	"dmesg | grep -q 'Lockdown: dd: /dev/mem,kmem,port is restricted'"
exit $rc

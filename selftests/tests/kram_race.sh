#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# /dev/kram's check-then-copy against frees (issue 14, kram item 3): a
# pread or pwrite of a user's pool page races that page's free and its
# reuse by a kernel owner. kram_bench churn=1 takes every pool page it can,
# fills it with a marker, checks and frees it, over and over; kram_rwrace
# frees and re-allocates its own pages while it preads and pwrites them.
# No read may return the marker, no write may change a kernel owner's page
# (kram_bench counts them at rmmod), and the stress must have met pages
# that were the kernel's at the time of the copy.
# Before the stress, four copies held by userfaultfd make the race certain
# (kram_rwrace.c). Then kram_bench without a region: refused with -ENODEV
# and the reason.
# shellcheck source=selftests/tests/kram_lib.sh
. /hvkit/tests/kram_lib
echo "TAP version 13"
kram_need_region
ko=/lib/modules/$(uname -r)/updates/kram_bench.ko
[ -f "$ko" ] || { echo "not ok 1 no $ko (the build's modules)"; exit 1; }
tag=0x80000052 secs=${KRAM_RACE_SECONDS:-8}
log0=$(dmesg | wc -l)
# At most 16 pages per cycle: kram_rwrace then holds all but a few dozen
# pool pages at once (it needs fewer than 32 left to the churner and the
# free pool; with 64 per cycle it had to squeeze them out one by one, which
# a busy host did not always finish in its 20 s).
check "insmod kram_bench churn=1 churn_batch=16: a kernel owner churning pool pages" \
	insmod "$ko" churn=1 churn_batch=16
kram_rwrace $tag "$secs" >/tmp/kram_race.out
st=$?
grep '^#' /tmp/kram_race.out
met=$(sed -n 's/^race-met //p' /tmp/kram_race.out)
sed -n 's/^held /# held: /p' /tmp/kram_race.out
# held NAME: "BYTES MARKER" of that held copy.
held() { sed -n "s/^held $1 //p" /tmp/kram_race.out; }
check "held pread of 2 pages (control): 8192 bytes" [ "$(held read-control)" = "8192 0" ]
check "held pread, 2nd page freed and the kernel's meanwhile: stops at 4096, no marker ($(held read-freed))" \
	[ "$(held read-freed)" = "4096 0" ]
check "held pwrite of 2 pages (control): 8192 bytes" [ "$(held write-control)" = "8192 0" ]
check "held pwrite, 2nd page freed and the kernel's meanwhile: stops at 4096 ($(held write-freed))" \
	[ "$(held write-freed)" = "4096 0" ]
check "$secs s of pread/pwrite/free against it: no kernel bytes read, no error (kram_rwrace exit $st)" \
	[ "$st" = 0 ]
refused=${met% *} cut=${met#* }
check "the stress met pages no longer its own: ${refused:-?} copies refused (the kernel's), ${cut:-?} cut short" \
	[ "$((${refused:-0} + ${cut:-0}))" -gt 0 ]
check "rmmod kram_bench" rmmod kram_bench
dmesg | tail -n +$((log0 + 1)) | sed -n 's/.*kram_bench: churn: /# churn: /p'
check "  its pages: none changed by a user write, every free accepted" \
	sh -c "dmesg | tail -n +$((log0 + 1)) | grep -q 'kram_bench: churn: [1-9][0-9]* cycles, [0-9]* pages, 0 changed by others, 0 frees refused'"
check "no page of either tag left" sh -c \
	"[ \$(hvkitctl kram walk --tag $tag --count-only) = 0 ] && [ \$(hvkitctl kram walk --tag 0x4b424e43 --count-only) = 0 ]"
check "the kernel log is clean" sh -c \
	"! dmesg | tail -n +$((log0 + 1)) | grep -qE 'BUG:|WARNING:|KASAN|Oops|general protection|kram_bench: churn: a kernel'"

# Without a region (insmod reads no modprobe.d options; scan=0: kram would
# find the group's region by its superblock), kram_bench must refuse to
# run, saying why.
check "modprobe -r kram" modprobe -r kram
check "kram loaded without a region" sh -c \
	"insmod /lib/modules/\$(uname -r)/updates/kram.ko scan=0 && [ \$(cat $KRAM_SYS/state) != attached ]"
# enodev MESSAGE: insmod failed with ENODEV's message, nothing loaded.
enodev() {
	case "$1" in *"No such device"*) ;; *) return 1 ;; esac
	[ ! -d /sys/module/kram_bench ]
}
for args in "" "hold=1" "churn=1"; do
	n0=$(dmesg | grep -c 'kram_bench: kram has no region attached')
	# shellcheck disable=SC2086 # $args: no word or one
	e=$(insmod "$ko" $args 2>&1)
	echo "# insmod kram_bench $args: ${e:-loaded}"
	check "kram_bench ${args:-(benchmark)} without a region: refused (ENODEV)" enodev "$e"
	check "  with the reason (dmesg: 'kram has no region attached')" \
		[ "$(dmesg | grep -c 'kram_bench: kram has no region attached')" -gt "$n0" ]
	rmmod kram_bench 2>/dev/null
done
rmmod kram
check "kram attached again (modprobe, the group's region)" sh -c \
	"modprobe kram && [ \$(cat $KRAM_SYS/state) = attached ]"
exit $rc

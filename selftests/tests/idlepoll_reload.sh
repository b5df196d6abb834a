#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guest_idlepoll unloaded and loaded again many times (200 on the debug
# kernel, 50 on the stock one) while a ping-pong load keeps every CPU
# entering and leaving idle: unload must wait for every CPU that is on
# its way through the driver (a CPU halted in ->enter() is RCU-idle, and
# 6.1's cpuidle calls the POLL state's ->enter() with RCU not watching),
# or a CPU runs freed module text or writes freed per-CPU memory (KASAN on the debug kernel says so; the stock kernel oopses).
# shellcheck source=selftests/tests/idlepoll_lib.sh
. /hvkit/tests/idlepoll_lib
echo "TAP version 13"
# (n is tap_lib's TAP counter)
want=50
[ "${SUITE_KIND:-stock}" = debug ] && want=200
ncpu=$(grep -c ^processor /proc/cpuinfo)
check "guest_idlepoll is loaded (group MODULES)" [ -d /sys/module/guest_idlepoll ]
# Only what the reloads print counts (earlier tests' lines are theirs).
log0=$(dmesg | wc -l)
pids=
# A ping-pong pair per pair of CPUs: every CPU sleeps and wakes all the time.
c=0
while [ $c -lt "$ncpu" ]; do
	pingpong -n 100000000 -t 20 -a $c -b $(((c + 1) % ncpu)) >/dev/null 2>&1 &
	pids="$pids $!"
	c=$((c + 2))
done
# The module's exit and init by their syscalls, in one process (modreload):
# two execs of busybox per round cost the debug kernel a quarter of
# each round (0.23 s a round instead of 0.17 s). Each load is held 20 ms
# (the ping-pong's CPUs enter idle through it dozens of times) before
# the next unload, as the exec after modprobe held it before.
ko=$(modinfo -n guest_idlepoll)
t0=$(date +%s)
modreload guest_idlepoll "$ko" "$want" 20 >/tmp/reload.out 2>&1
bad=$?
t1=$(date +%s)
# shellcheck disable=SC2086
kill $pids 2>/dev/null
wait 2>/dev/null
sed 's/^/# modreload: /' /tmp/reload.out
i=$(sed -n 's/^rounds=//p' /tmp/reload.out)
echo "# ${i:-no} reloads under ping-pong on $ncpu CPUs in $((t1 - t0)) s"
check "$want unloads and loads under a ping-pong load on every CPU (${i:-no} done)" \
	sh -c "[ $bad = 0 ] && [ '${i:-}' = $want ]"
check "guest_idlepoll drives idle again" [ "$(driver)" = guest_idlepoll ]
check "the kernel log is clean after the reloads" sh -c "! dmesg | tail -n +$((log0 + 1)) | grep -qE 'BUG:|WARNING:|KASAN|Oops|general protection'"
exit $rc

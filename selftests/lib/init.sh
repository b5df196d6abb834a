#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# PID 1 of every hvkit test VM (busybox sh). It reads /hvkit/group.env, which
# the host wrote for this test group, loads the modules, runs the tests and
# reports to the host:
#   - results, as flat TAP lines, go to $RESULT_DEV (the second serial port,
#     a file on the host), each line prefixed "HVKIT: ";
#   - the last line is "HVKIT: done pass=N fail=N skip=N boots=N";
#   - everything else (kernel log, test output) goes to the console.
# A test listed as "kexec:<name>" runs "<name> stage1", then this script
# repacks the root filesystem (carrying its state in /hvkit/state), kexecs
# into /boot/vmlinuz with "hvkit.stage=2" and, after the jump, runs
# "<name> stage2" and the remaining tests. See selftests/README.md.
#
# In a VM that boots systemd (INIT=systemd, lib/vm.sh) systemd is PID 1
# and this script runs as hvkit-tests.service once the system is up
# (lib/hvkit-tests.service): the same reports, and systemd has mounted
# the file systems.

export PATH=/hvkit/bin:/hvkit/tests:/usr/sbin:/usr/bin:/sbin:/bin
export LD_LIBRARY_PATH=/hvkit/lib
if [ $$ = 1 ]; then
	mkdir -p /proc /sys /dev /tmp /run
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev 2>/dev/null
	mount -t debugfs debugfs /sys/kernel/debug
	mount -t tmpfs tmpfs /tmp
	mount -t tmpfs tmpfs /run
	mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
fi
echo 1 >/proc/sys/kernel/panic_on_warn

# The group's settings, exported so tests can read them too.
set -a
. /hvkit/group.env
set +a
: "${RESULT_DEV:=/dev/ttyS1}"
: "${TEST_TIMEOUT:=600}"
STATE=/hvkit/state

[ -c "$RESULT_DEV" ] || RESULT_DEV=/dev/console
# The results port stays open (fd 3) for PID 1's whole life: a last close
# shuts the UART down and drops what it has not sent yet (seen in L2: the
# tail of one result line lost, the next line glued to it).
exec 3>"$RESULT_DEV"
# report: a line on the results port, and a copy on the console, but not
# in L2 (LEVEL=L2): there every byte on a serial port is a VM exit to L1's
# QEMU (0.15 ms each under nested TCG), and L1 reports L2's results from
# its results port anyway.
report() {
	echo "HVKIT: $*" >&3
	[ "${LEVEL:-}" = L2 ] || echo "HVKIT: $*"
}
# flush_results: wait until the port sent everything (stty sets the mode
# with TCSADRAIN), before a power-off or kexec cuts it.
flush_results() { stty -F "$RESULT_DEV" -echo 2>/dev/null; }

# Counters and progress survive a kexec through $STATE.
pass=0 fail=0 skip=0 n=0 boots=1 next=1 resume=
# shellcheck source=/dev/null
[ -f "$STATE" ] && . "$STATE"
save_state() {
	printf 'pass=%s fail=%s skip=%s n=%s boots=%s next=%s resume=%s\n' \
		"$pass" "$fail" "$skip" "$n" "$boots" "$next" "$1" >"$STATE"
}

# trim STRING: STRING without its leading and trailing spaces, in T (no
# command substitution: that forks, see run_test).
trim() {
	T=$1
	while :; do
		case "$T" in
		" "*) T=${T# } ;;
		*" ") T=${T% } ;;
		*) return 0 ;;
		esac
	done
}

result() { # result ok|fail|skip name [reason]
	n=$((n + 1))
	case "$1" in
	ok) pass=$((pass + 1)); report "ok $n $2" ;;
	skip) skip=$((skip + 1)); trim "${3:-}"; report "ok $n $2 # SKIP${T:+ $T}" ;;
	*) fail=$((fail + 1)); report "not ok $n $2${3:+ # $3}" ;;
	esac
}

# kmemleak_since T0: the kmemleak report, but only objects allocated at or
# after uptime T0 (when this boot's tests began); the report gives each
# object's age when it is read. What the kernel's own boot left behind
# is counted on the console, not judged: an object allocated before our
# first module load cannot be one of ours (one that was allocated then and
# that our code later orphans would be missed: the price of not scanning
# a whole 2-3 GiB VM once more at every boot, 4-12 s under TCG).
kmemleak_since() {
	# debugfs files have size 0: read the report, do not stat it.
	awk -v now="$(cut -d' ' -f1 /proc/uptime)" -v t0="$1" '
	function flush() {
		if (rec == "")
			return
		if (born == "" || born + 0.5 >= t0)
			printf "%s", rec
		else
			old++
		rec = ""; born = ""
	}
	/^unreferenced object/ { flush() }
	{ rec = rec $0 "\n" }
	match($0, /\(age [0-9]+\.[0-9]+s\)/) {
		born = now - substr($0, RSTART + 5, RLENGTH - 7)
	}
	END {
		flush()
		if (old)
			printf "# kmemleak: %d objects from before the tests (boot), not judged\n", old >"/dev/console"
	}' /sys/kernel/debug/kmemleak
}

finish() {
	if [ -w /sys/kernel/debug/kmemleak ]; then
		# An object is reported by the second scan that finds it
		# unreferenced and unchanged, and only once it is 5 s old.
		# The first scan (5-7 s under TCG) takes the checksums at
		# once; the second waits until the last test's allocations
		# are 6 s old (what the module unloads took already counts).
		read -r k0 _ </proc/uptime
		echo scan >/sys/kernel/debug/kmemleak
		read -r k1 _ </proc/uptime
		aged=$(($(date +%s) - tests_end))
		[ "$aged" -lt 6 ] && sleep $((6 - aged))
		read -r k2 _ </proc/uptime
		echo scan >/sys/kernel/debug/kmemleak
		read -r k3 _ </proc/uptime
		# What the two scans cost (most of it the object list, not RAM:
		# 512 MiB instead of 1 GiB saved 1.5-6.6 s of 11-18 s).
		awk -v a="$k0" -v b="$k1" -v c="$k2" -v d="$k3" '
			/^MemTotal:/ { printf "# kmemleak: two scans of %d MiB in %.1f s and %.1f s\n", $2 / 1024, b - a, d - c }' \
			/proc/meminfo >/dev/console
		leaks=$(kmemleak_since "${leak_t0:-0}")
		if [ -n "$leaks" ]; then
			echo "$leaks"
			result fail "$GROUP/kmemleak" "leaks reported (see console)"
		else
			result ok "$GROUP/kmemleak"
		fi
	fi
	report "done pass=$pass fail=$fail skip=$skip boots=$boots"
	flush_results
	sync
	poweroff -f
}

# run_test NAME [ARG]: run one test program, turn its TAP subtests (or its
# exit status) into result lines. Exit 4 = skipped (kselftest KSFT_SKIP).
run_test() {
	name=$1
	out=/tmp/test.out
	echo "=== hvkit test $GROUP/$name $2 (at $(cut -d' ' -f1 /proc/uptime) s)"
	timeout "$TEST_TIMEOUT" "$name" $2 >"$out" 2>&1 3>&-
	rc=$?
	cat "$out"
	had=0 lastrun=
	# Leaf TAP lines of kselftest programs: "ok N name" / "not ok N name".
	# 6.1's harness prints a skipped test as "ok N # SKIP why", without its
	# name: the name is that of the test its "#  RUN  name ..." line began.
	# Shell expansions only, no fork per line (trim sets T): a fork costs
	# a debug L1 tens of ms and a debug L2 (nested TCG) up to 80 ms; with
	# two per result (a subshell and sed), a debug L2 spent 12 s on 50.
	while IFS= read -r line; do
		case "$line" in
		"# "*" RUN "*)
			trim "${line##* RUN }"
			lastrun=${T%% *}
			continue ;;
		"ok "[0-9]*|"not ok "[0-9]*) had=1 ;;
		*) continue ;;
		esac
		st=${line%%[0-9]*}
		rest=${line#"$st"}
		num=${rest%% *}
		desc=${rest#"$num"}
		reason=
		case "$desc" in
		*"# SKIP"*)
			trim "${desc#*# SKIP}"
			reason=$T
			desc=${desc%%# SKIP*}; st=skip ;;
		esac
		trim "$desc"
		desc=$T
		[ -n "$desc" ] || desc=${lastrun:-"#$num"}
		case "$st" in
		skip) result skip "$GROUP/$name/$desc" "$reason" ;;
		"ok ") result ok "$GROUP/$name/$desc" ;;
		*) result fail "$GROUP/$name/$desc" ;;
		esac
	done <"$out"
	case "$rc" in
	0) [ $had = 1 ] || result ok "$GROUP/$name${2:+ $2}" ;;
	4) [ $had = 1 ] || result skip "$GROUP/$name${2:+ $2}" "exit 4" ;;
	124|143) result fail "$GROUP/$name${2:+ $2}" "timeout after ${TEST_TIMEOUT}s" ;;
	*) result fail "$GROUP/$name${2:+ $2}" "exit status $rc" ;;
	esac
	return $rc
}

do_kexec() { # do_kexec TEST-INDEX
	save_state "$1"
	echo "=== hvkit: kexec into the next boot (test $1)"
	# The next kernel gets the same root filesystem, state included
	# (uncompressed, as the first boot's: see mk_cpio in lib/vm.sh).
	(cd / && find . -xdev ! -path './tmp/*' ! -path './run/*' | cpio -o -H newc 2>/dev/null) \
		>/tmp/next.cpio
	cmdline="$(sed 's/ hvkit\.stage=[0-9]*//' /proc/cmdline) hvkit.stage=$((boots + 1))"
	if ! kexec -s -l /boot/vmlinuz --initrd=/tmp/next.cpio --command-line="$cmdline"; then
		rm -f "$STATE"
		result fail "$GROUP/kexec-load" "kexec -s -l failed"
		return 1
	fi
	flush_results
	sync
	kexec -e
	result fail "$GROUP/kexec-exec" "kexec -e returned"
	rm -f "$STATE"
	return 1
}

# kmemleak scans only when PID 1 asks (its thread's first automatic scan
# comes 60 s after boot: a CPU busy for seconds in the middle of a test).
[ -w /sys/kernel/debug/kmemleak ] && echo scan=off >/sys/kernel/debug/kmemleak
if [ -n "$resume" ]; then
	boots=$((boots + 1))
	echo "=== hvkit: boot $boots after kexec, resuming at test $resume"
else
	report "group $GROUP kernel $(uname -r)"
	# kmemleak judges what is allocated from here on (kmemleak_since);
	# after a kexec, everything of the new boot.
	leak_t0=$(cut -d' ' -f1 /proc/uptime)
fi

# Kernel modules the tests need; built in on the debug kernel.
for m in $KMODS; do
	[ -d "/sys/module/$m" ] || modprobe "$m" ||
		result fail "$GROUP/modprobe $m (kernel module)"
done
# A VM that runs KVM guests keeps one idle KVM VM open: starting and
# stopping guests then patches no static key under the other vCPU (a
# multi-threaded TCG livelock; tests/kvm_keeper.c says why).
# The keeper's own VM flips those keys once: with the other CPUs
# offline, so that no other vCPU runs a site while it is patched.
case " $KMODS " in
*" kvm_amd "* | *" kvm_intel "*)
	others=$(ls -d /sys/devices/system/cpu/cpu[1-9]* 2>/dev/null)
	for c in $others; do [ -w "$c/online" ] && echo 0 >"$c/online"; done
	/hvkit/tests/kvm_keeper /tmp/kvm_keeper.ready </dev/null >/dev/kmsg 2>&1 &
	for _ in $(seq 100); do [ -e /tmp/kvm_keeper.ready ] && break; sleep 0.1; done
	[ -e /tmp/kvm_keeper.ready ] || echo "# kvm_keeper did not start" >/dev/kmsg
	for c in $others; do [ -w "$c/online" ] && echo 1 >"$c/online"; done
	;;
esac

# COLDPLUG (group setting): load drivers by modalias as udev's coldplug
# does at boot, with kmod's modprobe (softdeps); a second pass sees the
# devices the first one's drivers added (virtio). Before MODULES: in this
# boot nothing of ours is loaded by name until coldplug is done.
# A device that already has a driver is skipped (its module is loaded):
# each kmod run costs ~0.3 s under TCG.
if [ -n "${COLDPLUG:-}" ]; then
	for bus in pci virtio; do
		for f in /sys/bus/$bus/devices/*/modalias; do
			[ -r "$f" ] && [ ! -e "${f%/modalias}/driver" ] || continue
			a=$(cat "$f")
			/hvkit/kmod/modprobe -q -b "$a" && echo "# coldplug: $a"
		done
	done >/tmp/coldplug.log 2>&1
fi

for m in $MODULES; do
	if modprobe "$m"; then
		[ -n "$resume" ] || result ok "$GROUP/modprobe $m"
	else
		result fail "$GROUP/modprobe $m"
	fi
done

i=0
for t in $TESTS; do
	i=$((i + 1))
	[ "$i" -lt "$next" ] && continue
	case "$t" in
	kexec:*)
		t=${t#kexec:}
		if [ "$resume" = "$i" ]; then
			resume=
			rm -f "$STATE"
			run_test "$t" stage2
		else
			next=$i
			run_test "$t" stage1 && do_kexec "$i"
		fi
		;;
	*)
		run_test "$t"
		;;
	esac
done

tests_end=$(date +%s)
# Every module must unload cleanly (reverse order).
rev=
for m in $MODULES; do rev="$m $rev"; done
for m in $rev; do
	# busybox modprobe -r also removes the module's dependencies and fails
	# when one is in use (kvm_hybrid needs kvm, which kvm_amd holds): the
	# test is that the module itself is gone.
	modprobe -r "$m" 2>/tmp/rmmod.err
	sed 's/^/# modprobe -r: /' /tmp/rmmod.err
	if [ ! -d "/sys/module/$m" ]; then
		result ok "$GROUP/modprobe -r $m"
	else
		result fail "$GROUP/modprobe -r $m"
	fi
done
finish

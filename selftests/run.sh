#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# hvkit test runner: builds, boots real kernels under QEMU (TCG) and counts
# results. Entry points (the root Makefile calls these):
#
#   selftests/run.sh check         everything: static checks, the Debian
#                                  packages, stock, nested and debug suites,
#                                  the quick benchmarks (make check)
#   selftests/run.sh quick         W=1 build + stock suite (make check-quick)
#   selftests/run.sh bench [GROUP...]
#                                  every benchmark, side-by-side tables
#                                  (make bench; figures never fail a test)
#   selftests/run.sh demo          boot a VM with every module loaded and
#                                  show them at work, then one whose KVM
#                                  guest runs guest_pvtimer (make demo)
#   selftests/run.sh static        W=1 build, sparse, checkpatch
#   selftests/run.sh deb [GROUP...]
#                                  the Debian packages: build, install,
#                                  upgrade, initramfs hook, purge
#                                  (lib/deb.sh), then the deb suite's VMs
#                                  (deb-upgrade, systemd), or only GROUPs
#   selftests/run.sh stock|nested|debug [GROUP...]
#                                  one suite, optionally only some of its groups
#
# The last line is "hvkit: N passed, N failed, N skipped, N retried"; the
# exit status is non-zero when anything failed. Logs: selftests/out/vm/<kernel>-<group>/.
# How groups and tests are declared: selftests/README.md. When a failed VM
# is booted again: lib/policy.sh, all of it.
set -uo pipefail
# Every process of this run carries this tag in its environment, from the
# first: the runner execs itself once with it (a forked subshell shows
# the environment its process was exec'd with). cleanup finds them by it.
case "${HVKIT_RUN_TAG:-}" in
"hvkit-run-$$-"*) ;;
*)
	HVKIT_RUN_TAG=hvkit-run-$$-$(date +%s%N)
	export HVKIT_RUN_TAG
	exec "$BASH" "$0" "$@"
	;;
esac
# shellcheck source=selftests/lib/common.sh
. "$(dirname "$0")/lib/common.sh"
LIB=$HVKIT_TOP/selftests/lib
export LIB
# shellcheck source=selftests/lib/policy.sh
. "$LIB/policy.sh"
# shellcheck source=selftests/lib/vm.sh
. "$LIB/vm.sh"
# shellcheck source=selftests/lib/deb.sh
. "$LIB/deb.sh"

PASS=0 FAIL=0 SKIP=0
FAILED=() RETRIED=()

count() { # count ok|fail|skip NAME [why]
	case "$1" in
	ok) PASS=$((PASS + 1)); echo "ok - $2" ;;
	skip) SKIP=$((SKIP + 1)); echo "ok - $2 # SKIP${3:+ $3}" ;;
	*) FAIL=$((FAIL + 1)); FAILED+=("$2"); echo "not ok - $2${3:+ # $3}" ;;
	esac
}

summary() {
	local groups
	groups=$(printf '%s\n' "${RETRIED[@]}" | sed 's/: .*//' | sort -u | grep -c .)
	if [ "$groups" -gt 1 ]; then
		count fail "platform: $groups groups were retried, at most one may be (lib/policy.sh)"
	fi
	echo
	if [ ${#FAILED[@]} -gt 0 ]; then
		echo "Failed:"
		printf '  %s\n' "${FAILED[@]}"
	fi
	if [ ${#RETRIED[@]} -gt 0 ]; then
		echo "Retried once (lib/policy.sh):"
		printf '  %s\n' "${RETRIED[@]}"
	fi
	echo "hvkit: $PASS passed, $FAIL failed, $SKIP skipped, ${#RETRIED[@]} retried"
	[ "$FAIL" = 0 ]
}

# ---------------------------------------------------------------- building

KVER=
STOCK_KDIR=
BUILT_TESTS=

# The kselftest headers and checkpatch (extracted once, cached on disk).
ksrc() { "$LIB/ksrc.sh"; }

# Every module name our Kbuild files can build (frames in a trace).
HVKIT_MODULES=$(cat "$HVKIT_TOP"/*/Kbuild "$HVKIT_TOP"/selftests/kunit/Kbuild |
	sed -n 's/^obj-m *+= *//p' | tr ' ' '\n' | sed -n 's/\.o$//p' | sort -u | paste -sd' ')

# copy_tree DEST: the source tree (no build products) into a fresh DEST,
# so every build compiles everything and builds for different kernels
# never share object files.
copy_tree() {
	rm -rf "$1"
	mkdir -p "$1"
	rsync -a --exclude .git --exclude selftests/out \
		--exclude compat/generated --exclude '*.o' --exclude '*.ko' \
		--exclude '*.mod' --exclude '*.mod.c' --exclude '.*.cmd' \
		--exclude Module.symvers --exclude modules.order \
		"$HVKIT_TOP/" "$1/"
}

# build_modules KDIR DEST [MAKE ARG...]: W=1 build from scratch; fails on
# any compiler or modpost warning (with C=2: any sparse warning in our
# files; sparse's complaints about the kernel's own headers are not ours).
# Sets MODKOS: the .ko files this build produced.
build_modules() {
	local kdir=$1 dest=$2
	shift 2
	copy_tree "$dest"
	make -j"$(nproc)" -C "$dest" KDIR="$kdir" W=1 "$@" modules >"$dest/build.log" 2>&1 || {
		cat "$dest/build.log"
		return 1
	}
	if grep -E 'warning:|error:|^WARNING:' "$dest/build.log" | grep -v '^/usr/src/'; then
		return 1
	fi
	MODKOS=$(sed "s|^\([^/]\)|$dest/\1|" "$dest/modules.order" | paste -sd' ')
}

# build_userspace: the test programs and a static hvkitctl (the tests run
# it hundreds of times) into $HVKIT_OUT/user, and in its file libs the
# shared libraries the programs need (mk_root copies them into each root).
build_userspace() {
	[ -n "$BUILT_TESTS" ] && return 0
	local out=$HVKIT_OUT/user k
	k=$(ksrc) || return 1
	rm -rf "$out"
	mkdir -p "$out/tests" "$out/bin"
	make -s -C "$HVKIT_TOP/tools/hvkitctl" O="$out/bin" STATIC=1 >"$out/build.log" 2>&1 || {
		cat "$out/build.log"; return 1; }
	make -s -C "$HVKIT_TOP/selftests/tests" O="$out/tests" \
		KSFT="$k/tools/testing/selftests" >>"$out/build.log" 2>&1 || {
		cat "$out/build.log"; return 1; }
	shlibs "$out"/tests/* "$out"/bin/* | sort -u >"$out/libs"
	[ -s "$out/libs" ] || { echo "build_userspace: no shared library found by ldd" >&2; return 1; }
	BUILT_TESTS=$out
}

# ---------------------------------------------------------------- groups

# load_group FILE: the group's settings with their defaults.
load_group() {
	GROUP=$(basename "$1" .group)
	SUITES="stock debug" CMDLINE="" QEMU_ARGS="" MEM=1024 SMP=2 TIMEOUT=600
	MODULES="" KMODS="" TESTS="" L2_MODULES="" L2_TESTS="" L2_CMDLINE=""
	L2_QEMU_ARGS="" L2_MEM=512 L2_MACHINE=microvm L2_CPUS="" TEST_TIMEOUT=600 DESCRIPTION=""
	HOST_HELPER="" HOST_HELPER_READY="" MODPROBE_CONF="" ACCEL=tcg QEMU_IN_L1=""
	EXPECT="" EXPECT_DEBUG="" ALONE=no DEBUG_ALONE="" BESIDE=no DEBUG_L1=debug
	DEBUG_CMDLINE="" COLDPLUG="" PREV_KOS="" BY_NAME=no L1_PMU=no INIT="" DEBS=""
	DEBUG_TESTS=""
	# shellcheck disable=SC1090
	. "$1"
	[ -n "$EXPECT_DEBUG" ] || EXPECT_DEBUG=$EXPECT
	[ -n "$DEBUG_TESTS" ] || DEBUG_TESTS=$TESTS
	[ -n "$DEBUG_ALONE" ] || DEBUG_ALONE=$ALONE
}

# check_groups SUITE [NAME...]: every NAME is a group of SUITE, or die.
check_groups() {
	local suite=$1 name f
	shift
	for name in "$@"; do
		f=$HVKIT_TOP/selftests/groups/$name.group
		[ -f "$f" ] || die "no group '$name' (selftests/groups/*.group)"
		(load_group "$f"; case " $SUITES " in *" $suite "*) ;; *) exit 1 ;; esac) ||
			die "group '$name' is not in suite '$suite' (its SUITES: $(load_group "$f"; echo "$SUITES"))"
	done
}

# groups_for SUITE [NAME...]: the group files of SUITE (only NAMEs if given;
# a group with BY_NAME=yes only when named).
groups_for() {
	local suite=$1 f
	shift
	for f in "$HVKIT_TOP"/selftests/groups/*.group; do
		if [ $# -gt 0 ]; then
			case " $* " in *" $(basename "$f" .group) "*) ;; *) continue ;; esac
		fi
		# BY_NAME=yes: only when named (selftests/README.md says why).
		(load_group "$f"; [ $# -gt 0 ] || [ "$BY_NAME" != yes ] || exit 1
		 case " $SUITES " in *" $suite "*) exit 0 ;; *) exit 1 ;; esac) &&
			echo "$f"
	done
}

# count_results DIR: one counted result per TAP line PID 1 reported, and
# the group's lines: at least EXPECT results, the L2 retries hvkit-l2
# reported, and the VM as a whole.
count_results() {
	local dir=$1 qemu_rc=$2 line name n=0 want rc=ok
	grep -a '^HVKIT: ' "$dir/results.txt" | sed 's/^HVKIT: //' | tr -d '\r' >"$dir/results.tap"
	while IFS= read -r line; do
		case "$line" in
		"ok "*"# SKIP"*)
			name=${line#ok [0-9]* }
			gcount skip "$KIND/${name%% # SKIP*}" "${name#* # SKIP}"; n=$((n + 1)) ;;
		"ok "*) gcount ok "$KIND/${line#ok [0-9]* }"; n=$((n + 1)) ;;
		"not ok "*) gcount fail "$KIND/${line#not ok [0-9]* }"; n=$((n + 1)) ;;
		"retried "*)
			log "group $GROUP: hvkit-l2 ${line}"
			gcount retried "$KIND/$GROUP: ${line#retried }" ;;
		esac
	done <"$dir/results.tap"
	want=$EXPECT
	[ "$KIND" = debug ] && want=$EXPECT_DEBUG
	if [ -z "$want" ]; then
		gcount fail "$KIND/$GROUP: results" "the group states no EXPECT= (it reported $n)"
	elif [ "$n" -lt "$want" ]; then
		gcount fail "$KIND/$GROUP: results" "$n reported, at least $want expected"
	fi
	if [ -e "$dir/stalled" ]; then
		gcount fail "$KIND/$GROUP: VM" "emulator stalled: $(cat "$dir/stalled")"; rc=fail
	elif [ -e "$dir/boothang" ]; then
		gcount fail "$KIND/$GROUP: VM" "boot hung before PID 1: $(cat "$dir/boothang")"; rc=fail
	elif [ -e "$dir/fault" ]; then
		gcount fail "$KIND/$GROUP: VM" "platform fault: $(cat "$dir/fault")"; rc=fail
	elif [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
		gcount fail "$KIND/$GROUP: VM" "hang: killed after ${TIMEOUT}s"; rc=fail
	elif ! grep -q '^done ' "$dir/results.tap"; then
		gcount fail "$KIND/$GROUP: VM" "no result line (qemu exit $qemu_rc)"; rc=fail
	fi
	# The console of an L2 boot that hvkit-l2 retried (lib/policy.sh) is
	# shown, marked, and judged by that rule, not here.
	if grep -av '^# l2 console (retried boot): ' "$dir/console.log" |
		grep -aEnf "$BAD_PATTERNS" >"$dir/bad.txt"; then
		gcount fail "$KIND/$GROUP: kernel log" "$(head -n1 "$dir/bad.txt" | tr -d '\r' | cut -c1-100)"
		rc=fail
	fi
	[ $rc = ok ] && gcount ok "$KIND/$GROUP: VM clean"
	if [ $rc = fail ] || grep -q '^not ok' "$dir/results.tap"; then
		log "console log: $dir/console.log (last lines follow)"
		tail -n 40 "$dir/console.log" | sed 's/^/    | /' >&2
	fi
	if [ -s "$dir/vcpus.txt" ]; then
		log "the VM's vCPUs when it was stopped ($dir/vcpus.txt):"
		grep -aE 'VM status|CPU #|^RIP=|^EIP=|halted' "$dir/vcpus.txt" | sed 's/^/    | /' >&2
	fi
}

# run_group KIND FILE: build the group's initramfs, boot it, and record
# its results in DIR/counts (merge_group counts them). Runs in a subshell
# with its output in DIR/run.log.
run_group() {
	KIND=$1
	load_group "$2"
	[ "$KIND" = debug ] && TESTS=$DEBUG_TESTS
	local dir=$HVKIT_OUT/vm/$KIND-$GROUP qemu_rc why f t0 cpu
	t0=$(date +%s)
	GDIR=$dir
	# Its cgroup (start_queued) makes it idle beside a group alone, or holds its quota.
	if [ -e "$dir/cgfail" ]; then
		gcount fail "$KIND/$GROUP: VM" "not started: $(cat "$dir/cgfail")"
		return
	fi
	log "group $GROUP on $KIND kernel: ${DESCRIPTION:-no description}; building initramfs"
	# In the debug suite L2 boots the debug kernel; L1 too, unless the
	# group only needs it in L2 (DEBUG_L1=stock).
	if [ "$KIND" = debug ] && [ "$DEBUG_L1" = stock ]; then
		L1_KERNEL=stock
	else
		L1_KERNEL=$KIND
	fi
	if ! mk_image "$dir" "$L1_KERNEL" "$KIND"; then
		gcount fail "$KIND/$GROUP: initramfs"
		return
	fi
	boot_vm "$dir"
	qemu_rc=$?
	if [ -e "$dir/boothang" ] || [ -e "$dir/fault" ] || [ -e "$dir/stalled" ]; then
		log "group $GROUP: $(cat "$dir/boothang" "$dir/fault" "$dir/stalled" 2>/dev/null | head -n1)"
		if why=$(retry_l1 "$dir" "$(l1_is_stock && echo no || echo yes)" \
			"$HVKIT_MODULES" "$PLATFORM_FAULTS"); then
			log "group $GROUP: retrying once: $why (first run: *.1)"
			for f in console.log results.txt boothang fault stalled; do
				[ -e "$dir/$f" ] && mv "$dir/$f" "$dir/$f.1"
			done
			gcount retried "$KIND/$GROUP: $why"
			boot_vm "$dir"
			qemu_rc=$?
		else
			log "group $GROUP: not retried: ${why#\# not retried: }"
		fi
	fi
	count_results "$dir" "$qemu_rc"
	# The CPU time of this group's QEMUs, helpers and initramfs build: what it
	# costs on a machine where the CPUs, not the wall clock, are short.
	children_cpu_s cpu
	log "group $GROUP on $KIND kernel: $(($(date +%s) - t0)) s, $cpu CPU-s"
}

# gcount ok|fail|skip|retried NAME [why]: one result of the running group.
gcount() {
	printf '%s\t%s\t%s\n' "$1" "$2" "${3:-}" >>"$GDIR/counts"
}

# The VMs run JOBS at a time (HVKIT_JOBS, default 2: a TCG VM keeps about
# one of the two CPUs of the CI machine busy on average). A group that
# times something (ALONE=yes: benchmarks, timer lateness, poll hit
# rates; DEBUG_ALONE in the debug suite) runs with no other group at its
# priority: up to HVKIT_BESIDE (default 1, at most HVKIT_JOBS - 1) of the
# groups marked BESIDE=yes may run beside it with their cgroups idle
# (cpu.idle, SCHED_IDLE for the whole group): they get only the CPU time
# it leaves idle (0.4-1.0 of the 2 CPUs in make check of 2026-12-05),
# and a thread of its VM that wakes preempts them at once. They may
# starve while it keeps both CPUs busy, so a group is marked BESIDE=yes
# only once it passed with its VM held to 25 % of one CPU
# (HVKIT_CPU_QUOTA, below; selftests/README.md). A neighbour at 6 % of
# its CPU weight instead (never starved) was tried: stock nested-pvtimer's
# L2 wrote the TSC-deadline MSR 721 and 883 times with guest_pvtimer in
# two runs, against 353-598 alone or with an idle neighbour, and failed
# its 90 % drop once: such a neighbour keeps a CPU for a slice when a
# thread of the group alone wakes, and the agent fires late.
#
# Every group runs in a cgroup of its own of the cpu controller
# (hvkit-RUNNERPID-KIND-GROUP, made before it starts and removed when it
# ends, by cleanup if the run is stopped): its initramfs build, QEMU and
# helpers. Without a cpu controller with cpu.idle (Linux 5.15) to make
# one in, nothing runs beside a group alone. On cgroup v2 they are
# children of the root, outside the runner's own cgroup (a systemd
# unit's limits do not hold them; the runner's cleanup still stops them).
JOBS=${HVKIT_JOBS:-2}
BESIDE_MAX=${HVKIT_BESIDE:-1}
[[ $BESIDE_MAX =~ ^[0-9]+$ ]] || die "HVKIT_BESIDE: a number of groups (0, 1, ...)"
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || die "HVKIT_JOBS: a number of VMs at a time (1, 2, ...)"
[ "$BESIDE_MAX" -lt "$JOBS" ] || BESIDE_MAX=$((JOBS - 1))
# The cpu controller's directory (cgroup v1's cpu hierarchy, or v2's root
# when it offers cpu), kept only if a cgroup made there has cpu.idle; one
# probe also tells whether it has CPU bandwidth control (HVKIT_CPU_QUOTA).
CG_ROOT=/sys/fs/cgroup/cpu CG_QUOTA=no
if [ ! -e $CG_ROOT/cgroup.procs ]; then
	CG_ROOT=/sys/fs/cgroup
	grep -qw cpu $CG_ROOT/cgroup.controllers 2>/dev/null || CG_ROOT=
fi
if [ -n "$CG_ROOT" ]; then
	q=$CG_ROOT/hvkit-$$-probe
	if mkdir "$q" 2>/dev/null; then
		[ -e "$q/cpu.idle" ] || CG_ROOT=
		[ -e "$q/cpu.max" ] || [ -e "$q/cpu.cfs_quota_us" ] && CG_QUOTA=yes
		rmdir "$q"
	else
		CG_ROOT=
	fi
fi
if [ -z "$CG_ROOT" ] && [ "$BESIDE_MAX" -gt 0 ]; then
	log "no cgroup of the cpu controller with cpu.idle can be made here: no group runs beside one alone"
	BESIDE_MAX=0
fi
# HVKIT_CPU_QUOTA=PCT: every group's cgroup held to PCT % of one CPU, or
# no run at all: how a group is tried on a starved VM.
if [ -n "${HVKIT_CPU_QUOTA:-}" ]; then
	case "$HVKIT_CPU_QUOTA" in
	[1-9] | [1-9][0-9] | 100) ;;
	*) die "HVKIT_CPU_QUOTA: a percentage of one CPU, 1 to 100" ;;
	esac
	[ -n "$CG_ROOT" ] && [ $CG_QUOTA = yes ] ||
		die "HVKIT_CPU_QUOTA: no cgroup of the cpu controller with cpu.idle and CPU bandwidth control (cpu.max, cpu.cfs_quota_us) can be made here"
fi
declare -A JOB_DIR=() JOB_BESIDE=() JOB_CG=()
ALONE_JOB=

# lanes_beside: how many running jobs are BESIDE=yes groups.
lanes_beside() {
	local pid n=0
	for pid in "${!JOB_DIR[@]}"; do
		[ "${JOB_BESIDE[$pid]:-}" = yes ] && n=$((n + 1))
	done
	echo "$n"
}

# cg_make DIR HOW: make the cgroup of DIR's group, HOW normal or beside
# (idle), held to HVKIT_CPU_QUOTA if set, and print its path.
cg_make() {
	local cg pct=${HVKIT_CPU_QUOTA:-}
	cg=$CG_ROOT/hvkit-$$-$(basename "$1")
	rmdir "$cg" 2>/dev/null
	mkdir "$cg" || return 1
	if ! cg_idle "$cg" "$2"; then
		rmdir "$cg"
		return 1
	fi
	if [ -n "$pct" ] && [ -e "$cg/cpu.max" ]; then
		echo "$((pct * 1000)) 100000" >"$cg/cpu.max"
	elif [ -n "$pct" ]; then
		echo 100000 >"$cg/cpu.cfs_period_us" &&
			echo $((pct * 1000)) >"$cg/cpu.cfs_quota_us"
	fi || { rmdir "$cg"; return 1; }
	echo "$cg"
}

# cg_idle CG normal|beside: the cgroup idle (beside) or not.
cg_idle() {
	echo "$([ "$2" = beside ] && echo 1 || echo 0)" >"$1/cpu.idle"
}

# cg_remove CG: remove a group's cgroup once the group ended; what is
# still in it was left behind by the group, and is killed (and named).
cg_remove() {
	local p left
	for _ in 1 2 3 4 5; do
		rmdir "$1" 2>/dev/null && return 0
		left=
		for p in $(cat "$1/cgroup.procs" 2>/dev/null); do
			left="$left $p ($(cat /proc/"$p"/comm 2>/dev/null))"
			kill -KILL "$p" 2>/dev/null
		done
		[ -z "$left" ] || log "$(basename "$1"): killed what its group left behind:$left"
		sleep 0.2
	done
	log "$(basename "$1"): cgroup not removed"
}

# lanes_idle normal|beside: that for every running group but the one
# alone, when it changes (a group started meanwhile got it at its start).
LANES_IDLE=normal
lanes_idle() {
	local pid
	[ "$1" = "$LANES_IDLE" ] && return 0
	LANES_IDLE=$1
	for pid in "${!JOB_CG[@]}"; do
		[ "$pid" = "$ALONE_JOB" ] || cg_idle "${JOB_CG[$pid]}" "$1"
	done
}

# merge_group DIR: print a finished group's log and count its results.
merge_group() {
	local st name why
	cat "$1/run.log" >&2
	while IFS=$'\t' read -r st name why; do
		case "$st" in
		retried) RETRIED+=("$name") ;;
		*) count "$st" "$name" "$why" ;;
		esac
	done <"$1/counts"
}

# wait_one: wait for any job to end and merge it (the package cycle's
# job, when it ends, queues the suites it built for).
wait_one() {
	local pid=''
	wait -n -p pid "${!JOB_DIR[@]}"
	if [ -z "${pid:-}" ] || [ -z "${JOB_DIR[$pid]:-}" ]; then
		# No job that bash still knows of ended: take one that is gone.
		for pid in "${!JOB_DIR[@]}"; do
			kill -0 "$pid" 2>/dev/null || break
		done
		if kill -0 "$pid" 2>/dev/null; then
			sleep 1
			return
		fi
	fi
	merge_group "${JOB_DIR[$pid]}"
	[ -z "${JOB_CG[$pid]:-}" ] || cg_remove "${JOB_CG[$pid]}"
	unset "JOB_DIR[$pid]" "JOB_BESIDE[$pid]" "JOB_CG[$pid]"
	[ "$pid" = "$ALONE_JOB" ] && ALONE_JOB=
	if [ "$pid" = "$DEB_JOB" ]; then
		DEB_JOB=
		deb_job_done
	fi
}

# wait_jobs N: wait until at most N jobs are running.
wait_jobs() {
	while [ ${#JOB_DIR[@]} -gt "$1" ]; do
		wait_one
	done
}

# The Debian package cycle (step_deb) as a job from make check's start,
# beside the static checks, the debug build and then the debug suite's
# first groups: it is mostly single-threaded (dpkg, lintian, DKMS's
# modpost, mkinitramfs), so what runs beside it uses the CPU it leaves
# idle. While it runs, it takes one of the JOBS slots. When it ends, the suites
# that boot the modules its DKMS built are queued (deb_job_done).
DEB_JOB=
start_deb_job() {
	local dir=$HVKIT_OUT/vm/deb-packages
	rm -rf "$dir"
	mkdir -p "$dir"
	: >"$dir/counts"
	log "the Debian package cycle: started, beside the static checks and the VMs (log: $dir/run.log)"
	(
		GDIR=$dir
		count() { gcount "$@"; }
		step_deb
		printf '%s\n' "$DEB_KOS" >"$dir/kos"
		children_cpu_s cpu
		log "the Debian package cycle: $cpu CPU-s"
	) >"$dir/run.log" 2>&1 &
	DEB_JOB=$!
	JOB_DIR[$DEB_JOB]=$dir
}

# deb_job_done: queue the nested, stock and deb suites with the modules
# the package's DKMS built (none if it built none: that failure is
# counted), then the quick benchmarks.
deb_job_done() {
	DEB_KOS=$(cat "$HVKIT_OUT/vm/deb-packages/kos" 2>/dev/null)
	log "the Debian package cycle: done"
	if [ -n "$DEB_KOS" ]; then
		queue_stock nested "$DEB_KOS"
		queue_stock stock "$DEB_KOS"
		queue_stock deb "$DEB_KOS"
	fi
	step_build && queue_stock bench-check "$STOCK_KOS"
}

# One queue for every suite of a run, so that the lanes stay full across
# suites: queue_groups adds, run_queue runs. An entry is "KIND|FILE|KOS|SUITE"
# (lanes: "KIND|FILE|KOS|SUITE|BESIDE"),
# KOS the modules an L1 booting the stock kernel gets (DKMS's for the
# stock and nested suites, the W=1 build's elsewhere).
QUEUE_LANE=() QUEUE_ALONE=()

# queue_groups KIND SUITE KOS [NAME...]: every group of SUITE (or the NAMEs).
queue_groups() {
	local kind=$1 suite=$2 kos=$3 g alone beside
	shift 3
	for g in $(groups_for "$suite" "$@"); do
		read -r alone beside < <(load_group "$g"
			if [ "$kind" = debug ]; then echo "$DEBUG_ALONE $BESIDE"; else echo "$ALONE $BESIDE"; fi)
		# make check's quick benchmarks judge no figure (their table
		# lines say so): they share the machine; make bench runs them
		# alone.
		[ "$suite" = bench-check ] && alone=no
		if [ "$alone" = yes ]; then
			QUEUE_ALONE+=("$kind|$g|$kos|$suite")
		else
			QUEUE_LANE+=("$kind|$g|$kos|$suite|$beside")
		fi
	done
}

# next_beside FROM: the index of the first queued BESIDE=yes lane group
# from FROM on; false if none.
next_beside() {
	local k
	for ((k = $1; k < ${#QUEUE_LANE[@]}; k++)); do
		[ "${QUEUE_LANE[k]##*|}" = yes ] && echo "$k" && return 0
	done
	return 1
}

# run_queue: the groups that share the machine two at a time (in queue
# order, the debug suite's longest groups queued first) and, once the
# package cycle is done, one by one those that run alone, each with at
# most BESIDE_MAX of the BESIDE=yes others idle beside it
# (the first queued, out of order; its entry is emptied; so is the
# entry of one that takes a slot free while the others drain). Both queues may
# grow while it runs (deb_job_done), so they are walked by index.
run_queue() {
	local i=0 j=0 k lanes nbeside
	while :; do
		# Past the entries taken out of order.
		while [ $i -lt ${#QUEUE_LANE[@]} ] && [ -z "${QUEUE_LANE[i]}" ]; do
			i=$((i + 1))
		done
		lanes=${#JOB_DIR[@]}
		[ -n "$ALONE_JOB" ] && lanes=$((lanes - 1))
		if [ -z "$ALONE_JOB" ] && [ -z "$DEB_JOB" ] && [ $j -lt ${#QUEUE_ALONE[@]} ]; then
			# Only BESIDE=yes groups may go on beside it (nothing runs
			# alone and the package cycle is done: every job is a
			# lane). While the others drain, a free slot takes one
			# that may.
			nbeside=$(lanes_beside)
			if [ "$lanes" -gt "$BESIDE_MAX" ] || [ "$nbeside" -lt "$lanes" ]; then
				if [ "$lanes" -lt "$JOBS" ] && [ "$nbeside" -lt "$BESIDE_MAX" ] &&
					k=$(next_beside "$i"); then
					start_queued "${QUEUE_LANE[k]}" lane
					QUEUE_LANE[k]=
					continue
				fi
				wait_one
				continue
			fi
			lanes_idle beside
			start_queued "${QUEUE_ALONE[j]}" alone
			j=$((j + 1))
			continue
		fi
		if [ -z "$ALONE_JOB" ]; then
			# Nothing runs alone (now): the others share the CPUs.
			lanes_idle normal
			if [ $i -lt ${#QUEUE_LANE[@]} ] && [ "$lanes" -lt "$JOBS" ]; then
				start_queued "${QUEUE_LANE[i]}" lane
				i=$((i + 1))
				continue
			fi
		elif [ "$lanes" -lt "$BESIDE_MAX" ] && k=$(next_beside "$i"); then
			start_queued "${QUEUE_LANE[k]}" beside
			QUEUE_LANE[k]=
			continue
		fi
		[ ${#JOB_DIR[@]} -gt 0 ] || break
		wait_one
	done
	QUEUE_LANE=() QUEUE_ALONE=()
}

# start_queued ENTRY HOW: start one queued group, HOW alone (ALONE_JOB),
# lane, or beside (a lane group beside the one alone: idle from its
# first process on), in its cgroup.
start_queued() {
	local e=$1 how=$2 kind g kos suite beside dir cg=''
	IFS='|' read -r kind g kos suite beside <<<"$e"
	dir=$HVKIT_OUT/vm/$kind-$(basename "$g" .group)
	rm -rf "$dir"
	mkdir -p "$dir"
	: >"$dir/counts"
	case "$how" in
	alone) log "group $(basename "$g" .group) on $kind kernel: started, alone$(
		[ ${#JOB_DIR[@]} -gt 0 ] && echo " (idle beside it: ${#JOB_DIR[@]} group)")" ;;
	beside) log "group $(basename "$g" .group) on $kind kernel: started, idle beside a group alone" ;;
	*) log "group $(basename "$g" .group) on $kind kernel: started" ;;
	esac
	if [ -n "$CG_ROOT" ] &&
		! cg=$(cg_make "$dir" "$([ "$how" = beside ] && echo beside || echo normal)"); then
		echo "cannot make its cgroup in $CG_ROOT" >"$dir/cgfail"
		cg=''
	fi
	[ -z "$cg" ] || [ -z "${HVKIT_CPU_QUOTA:-}" ] ||
		log "group $(basename "$g" .group) on $kind kernel: held to $HVKIT_CPU_QUOTA % of one CPU ($cg)"
	(
		if [ -n "$cg" ] && ! echo "$BASHPID" >"$cg/cgroup.procs"; then
			echo "not put into $cg" >"$dir/cgfail"
		fi
		KSET[stock.kos]=$kos RUN_SUITE=$suite
		run_group "$kind" "$g"
	) >"$dir/run.log" 2>&1 &
	JOB_DIR[$!]=$dir
	JOB_BESIDE[$!]=$beside
	[ -n "$cg" ] && JOB_CG[$!]=$cg
	[ "$how" = alone ] && ALONE_JOB=$!
}

# ---------------------------------------------------------------- suites

# The two kernels a VM can boot, by name (stock, debug): KSET[NAME.rel],
# .vmlinuz, .modroot (the unpacked Debian modules; empty: all built in)
# and .kos (our .ko files built for it).
declare -A KSET=()

# kernel_set NAME: KREL, VMLINUZ, KMODROOT and MODKOS of that kernel.
kernel_set() {
	KREL=${KSET[$1.rel]} VMLINUZ=${KSET[$1.vmlinuz]}
	KMODROOT=${KSET[$1.modroot]} MODKOS=${KSET[$1.kos]}
}

# stock_kernel: the Debian kernel's image and modules into KSET.
stock_kernel() {
	local sroot
	sroot=$("$LIB/stock-kernel.sh") || return 1
	KSET[stock.rel]=$KVER
	KSET[stock.vmlinuz]=$sroot/root/boot/vmlinuz-$KVER
	KSET[stock.modroot]=$sroot/root
}

# prep_stock: the Debian kernel and the test programs, for any suite.
prep_stock() {
	stock_kernel || { count fail "stock kernel download"; return 1; }
	build_userspace || { count fail "userspace build (tests, hvkitctl)"; return 1; }
}

# queue_stock SUITE KOS [groups]: the groups of SUITE on the stock kernel.
queue_stock() {
	local suite=$1 kos=$2
	shift 2
	prep_stock || return 1
	queue_groups stock "$suite" "$kos" "$@"
}

# queue_debug [groups]: the debug kernel (built once, cached) and the
# modules built against it, then the debug suite's groups. Groups whose
# L1 boots the stock kernel (DEBUG_L1=stock) get the W=1 build's modules.
queue_debug() {
	local src start
	start=$(date +%s)
	src=$("$LIB/debug-kernel.sh") || { count fail "debug kernel build"; return 1; }
	log "debug kernel ready after $(($(date +%s) - start)) s ($src)"
	if build_modules "$src" "$HVKIT_OUT/build/debug"; then
		count ok "debug: W=1 build against the debug kernel"
	else
		count fail "debug: W=1 build against the debug kernel"
		return 1
	fi
	KSET[debug.rel]=$(cat "$src/include/config/kernel.release")
	KSET[debug.vmlinuz]=$src/arch/x86/boot/bzImage
	KSET[debug.modroot]=
	KSET[debug.kos]=$MODKOS
	step_build || return 1
	prep_stock || return 1
	queue_groups debug debug "$STOCK_KOS" "$@"
}

STOCK_KOS=
step_build() { # W=1 modules against the Debian headers; sets MODKOS, STOCK_KOS
	if [ -n "$STOCK_KOS" ]; then
		MODKOS=$STOCK_KOS
	elif build_modules "$STOCK_KDIR" "$HVKIT_OUT/build/stock"; then
		STOCK_KOS=$MODKOS
		count ok "build: W=1 modules for $KVER, no warnings"
	else
		count fail "build: W=1 modules for $KVER"
		return 1
	fi
}

# step_unit: hvkitctl's host-side unit tests (tools/hvkitctl/tests), each
# TAP line a result; fewer than UNIT_EXPECT, or a failing exit, fails.
UNIT_EXPECT=61
step_unit() {
	local log=$HVKIT_OUT/hvkitctl-unit.log n=0 rc=0 line
	make -s -C "$HVKIT_TOP/tools/hvkitctl" O="$HVKIT_OUT/hvkitctl-unit" test >"$log" 2>&1 || rc=$?
	while IFS= read -r line; do
		case "$line" in
		"ok "*) n=$((n + 1)); count ok "hvkitctl-unit/${line#ok * - }" ;;
		"not ok "*) n=$((n + 1)); count fail "hvkitctl-unit/${line#not ok * - }" ;;
		esac
	done <"$log"
	if [ "$rc" != 0 ] || [ "$n" -lt "$UNIT_EXPECT" ]; then
		grep -v '^ok ' "$log" | tail -20
		count fail "hvkitctl-unit: exit $rc, $n results (at least $UNIT_EXPECT expected; $log)"
	fi
}

step_static() { # the W=1 build of step_build, with sparse in the same pass
	local k style=$HVKIT_OUT/style.log spid=
	# checkpatch and shellcheck (one CPU) beside the build.
	if k=$(ksrc); then
		make -s -C "$HVKIT_TOP" CHECKPATCH="$k/scripts/checkpatch.pl" style >"$style" 2>&1 &
		spid=$!
	else
		count fail "checkpatch: extract"
	fi
	if build_modules "$STOCK_KDIR" "$HVKIT_OUT/build/stock" C=2; then
		STOCK_KOS=$MODKOS
		count ok "build: W=1 modules for $KVER, no warnings"
		count ok "sparse C=2: clean"
	else
		count fail "build: W=1 + sparse C=2 modules for $KVER"
	fi
	step_unit
	[ -n "$spid" ] || return
	if wait "$spid"; then
		count ok "checkpatch --strict and shellcheck: clean"
	else
		cat "$style"
		count fail "checkpatch --strict or shellcheck"
	fi
}

# bench_tables: the "| " table lines every bench VM printed, per group.
bench_tables() {
	local f
	for f in "$HVKIT_OUT"/vm/stock-bench-*/console.log; do
		[ -f "$f" ] || continue
		echo
		echo "---- $(basename "$(dirname "$f")") ----"
		grep -a '^| ' "$f"
	done
}

# ---------------------------------------------------------------- main

mkdir -p "$HVKIT_OUT"
# One run per checkout at a time (they share selftests/out). Nothing the
# run leaves behind for a while (a VM's watcher) may hold fd 9 (9>&-).
exec 9>"$HVKIT_OUT/.lock"
flock -n 9 || die "another selftests/run.sh is running in this checkout ($HVKIT_OUT)"
LIVE=$HVKIT_OUT/live
rm -rf "$LIVE"
# run_pids: the processes of this run but this shell (and, once they
# have ended, the grep and sed that looked: live_pids drops them).
run_pids() {
	grep -lzx "HVKIT_RUN_TAG=$HVKIT_RUN_TAG" /proc/[0-9]*/environ 2>/dev/null |
		sed -n 's|^/proc/\([0-9]*\)/environ$|\1|p' | grep -vx "$$"
}
# live_pids PID...: those that still exist.
live_pids() {
	local p
	for p in "$@"; do
		[ -d /proc/"$p" ] && echo "$p"
	done
}
mkdir -p "$LIVE"
# cleanup: every VM still running, its host helper and the group jobs.
cleanup() {
	local f d pid pids='' now i
	# Every process of this run but this shell is stopped first, so that
	# none forks or boots a VM again (a group's retry) while the rest is
	# killed; stopped again until no new one shows. They are found by
	# HVKIT_RUN_TAG in their environment (see the top), not as
	# descendants: a job's subshell dies of the signal alone (pkill, kill
	# of the process group) and its children are then init's. apt, dpkg
	# and dkms run without the tag (lib/deb.sh): they finish.
	for i in 1 2 3 4 5; do
		# shellcheck disable=SC2046 # one pid per word
		now=$(live_pids $(run_pids))
		[ "$now" = "$pids" ] && break
		pids=$now
		# shellcheck disable=SC2086 # one pid per word
		[ -z "$pids" ] || kill -STOP $pids 2>/dev/null
	done
	for f in "$LIVE"/*; do
		[ -e "$f" ] || continue
		d=$(cat "$f")
		pid=$(cat "$d/qemu.pid" 2>/dev/null) && kill -KILL "$pid" 2>/dev/null
		pid=$(cat "$d/helper.pgid" 2>/dev/null) && kill -KILL -- -"$pid" 2>/dev/null
		rm -f "$f"
	done
	# shellcheck disable=SC2086
	[ -z "$pids" ] || kill -KILL $pids 2>/dev/null
	# The groups' cgroups (start_queued), once empty.
	for i in 1 2 3; do
		[ -n "${CG_ROOT:-}" ] || break
		rmdir "$CG_ROOT"/hvkit-$$-* 2>/dev/null
		compgen -G "$CG_ROOT/hvkit-$$-*" >/dev/null || break
		sleep 1
	done
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup; exit 129' HUP
trap 'cleanup; exit 131' QUIT
trap cleanup EXIT
cmd=${1:-check}
[ $# -gt 0 ] && shift
case "$cmd" in
stock|nested|debug) check_groups "$cmd" "$@" ;;
bench) check_groups bench "$@" ;;
quick) check_groups stock "$@" ;;
deb) check_groups deb "$@" ;;
check|demo|static) [ $# = 0 ] || die "'$cmd' takes no group names" ;;
*) sed -n '3,26p' "$0"; exit 2 ;;
esac
# On a fresh machine the package lists come with the dependencies.
case "$cmd" in
check|demo|bench|deb) "$LIB/deps.sh" || die "dependencies" ;;
esac
KVER=$(stock_kver)
STOCK_KDIR=/usr/src/linux-headers-$KVER
# The emulator the VMs boot in (lib/qemu-build.sh: Debian's QEMU with the
# fixes of selftests/platform/qemu; HVKIT_QEMU=stock: the installed one;
# HVKIT_QEMU=/path/to/qemu-system-x86_64: that binary, e.g. an emulator
# built with diagnostics).
case "$cmd" in
static) ;;
*)
	if [ "${HVKIT_QEMU:-}" = stock ]; then
		L0_QEMU=$(command -v qemu-system-x86_64) || die "no qemu-system-x86_64"
	elif [ -n "${HVKIT_QEMU:-}" ]; then
		[ -x "$HVKIT_QEMU" ] || die "HVKIT_QEMU=$HVKIT_QEMU: not an executable"
		L0_QEMU=$(realpath "$HVKIT_QEMU")
	else
		L0_QEMU=$("$LIB/qemu-build.sh") || die "the test platform's emulator (lib/qemu-build.sh)"
	fi
	export L0_QEMU
	;;
esac
case "$cmd" in
check)
	t0=$(date +%s)
	cpu0=0
	children_cpu_s cpu0
	# The package cycle from the start, beside the static checks and
	# the debug build (they leave a CPU idle for half a minute in all)
	# and then the debug suite's first groups; when it ends, the suites
	# that boot its DKMS's modules are queued (a failed package check is
	# counted; they still boot the modules, if built), then the quick
	# benchmarks (deb_job_done).
	start_deb_job
	step_static
	# The debug suite's longest groups first, then the nested and stock
	# suites with the modules the package's DKMS built and the quick
	# benchmarks, then the groups that run alone.
	queue_debug
	run_queue
	bench_tables
	children_cpu_s cpu
	log "make check wall time: $(($(date +%s) - t0)) s, $((cpu - cpu0)) CPU-s on $(nproc) CPUs"
	summary
	;;
bench)
	step_build && queue_stock bench "$STOCK_KOS" "$@" && run_queue
	bench_tables
	summary
	;;
quick)
	step_build && queue_stock stock "$STOCK_KOS" "$@" && run_queue
	summary
	;;
static)
	step_static
	summary
	;;
deb)
	step_deb
	[ -z "$DEB_KOS" ] || { queue_stock deb "$DEB_KOS" "$@" && run_queue; }
	summary
	;;
stock|nested)
	step_build && queue_stock "$cmd" "$STOCK_KOS" "$@" && run_queue
	summary
	;;
debug)
	queue_debug "$@" && run_queue
	summary
	;;
demo)
	step_build || exit 1
	queue_stock demo "$STOCK_KOS" demo demo-pvtimer && run_queue
	echo
	echo "---- inside the VM ----"
	sed -n '/=== hvkit test demo\/demo/,/=== hvkit/p' "$HVKIT_OUT/vm/stock-demo/console.log" |
		grep -av '^=== hvkit' | grep -avE '^(HVKIT: |\[ *[0-9]+\.[0-9]+\])'
	echo
	echo "---- guest_pvtimer: a KVM guest (L2) of the second VM, its timer load with the local APIC and with guest_pvtimer ----"
	tr -d '\r' <"$HVKIT_OUT/vm/stock-demo-pvtimer/console.log" |
		sed -n -e 's/^# l2 console: # \(lapic\|pvtimer\): expiries/L2 \1 timers: expiries/p' \
			-e 's/^# l2 console: \(.*ok [0-9]* clockevent0 and clockevent1.*\)/L2: \1/p' \
			-e 's/^# \(L1 KVM, .*\)/\1/p' -e 's/^# \(exits by reason: .*\)/L1 KVM, \1/p' \
			-e 's/^\(.*ok [0-9]* L2.s TSC-deadline MSR-write exits .*\)/\1/p'
	summary
	;;
esac

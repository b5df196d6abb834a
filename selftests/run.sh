#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# hvkit test runner: builds, boots real kernels under QEMU (TCG) and counts
# results. Entry points (the root Makefile calls these):
#
#   selftests/run.sh check         everything: static checks, DKMS, stock,
#                                  nested and debug suites (make check)
#   selftests/run.sh quick         W=1 build + stock suite (make check-quick)
#   selftests/run.sh demo          boot one VM with every module loaded and
#                                  print "hvkitctl status" (make demo)
#   selftests/run.sh static        W=1 build, sparse, checkpatch
#   selftests/run.sh dkms          real dkms add/build/install for the
#                                  Debian kernel
#   selftests/run.sh stock|nested|debug [GROUP...]
#                                  one suite, optionally only some groups
#   selftests/run.sh bench [GROUP...]
#                                  benchmarks: side-by-side tables (also run
#                                  by check; figures never fail a test)
#
# The last line is "hvkit: N passed, N failed, N skipped, N retried"; the
# exit status is non-zero when anything failed. Logs: selftests/out/<kernel>-<group>/.
# How groups and tests are declared: selftests/README.md.
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"
LIB=$HVKIT_TOP/selftests/lib

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
	echo
	if [ ${#FAILED[@]} -gt 0 ]; then
		echo "Failed:"
		printf '  %s\n' "${FAILED[@]}"
	fi
	if [ ${#RETRIED[@]} -gt 0 ]; then
		echo "Retried once after a platform fault that was not hvkit's:"
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

# copy_tree DEST: the source tree (no build products) into DEST, so builds
# for different kernels never share object files.
copy_tree() {
	mkdir -p "$1"
	rsync -a --delete --exclude .git --exclude selftests/out \
		--exclude compat/generated --exclude '*.o' --exclude '*.ko' \
		--exclude '*.mod' --exclude '*.mod.c' --exclude '.*.cmd' \
		--exclude Module.symvers --exclude modules.order \
		"$HVKIT_TOP/" "$1/"
}

# build_modules KDIR DEST [extra make args]: W=1 build; fails on any warning.
build_modules() {
	local kdir=$1 dest=$2
	shift 2
	copy_tree "$dest"
	make -C "$dest" KDIR="$kdir" W=1 "$@" modules >"$dest/build.log" 2>&1 || {
		cat "$dest/build.log"
		return 1
	}
	if grep -E 'warning:|error:' "$dest/build.log"; then
		return 1
	fi
}

# build_userspace: static test programs and hvkitctl into $HVKIT_OUT/user.
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
	BUILT_TESTS=$out
}

# ---------------------------------------------------------------- initramfs

# copy_bin ROOT FILE...: dynamic executables with their shared libraries.
copy_bin() {
	local root=$1 f lib
	shift
	for f in "$@"; do
		install -D -m 755 "$f" "$root/hvkit/bin/$(basename "$f")"
		for lib in $(ldd "$f" | grep -oE '/[^ ]+'); do
			[ -e "$root$lib" ] || install -D -m 755 "$(readlink -f "$lib")" "$root$lib"
		done
	done
}

# l1_is_stock: the loaded group runs its hvkit code only in L2; L1 gets
# no hvkit module (mk_root) and runs stock KVM and QEMU.
l1_is_stock() {
	[ -z "$MODULES" ] && [ -n "$L2_TESTS$L2_MODULES" ]
}

# load_group FILE: the group's settings with their defaults.
load_group() {
	GROUP=$(basename "$1" .group)
	SUITES="stock debug" CMDLINE="" QEMU_ARGS="" MEM=1024 SMP=2 TIMEOUT=600
	MODULES="" KMODS="" TESTS="" L2_MODULES="" L2_TESTS="" L2_CMDLINE=""
	L2_QEMU_ARGS="" L2_MEM=512 L2_MACHINE=microvm TEST_TIMEOUT=600 DESCRIPTION=""
	HOST_HELPER="" HOST_HELPER_READY="" MODPROBE_CONF="" ACCEL=tcg QEMU_IN_L1=""
	# shellcheck disable=SC1090
	. "$1"
}

group_env() { # group_env L1|L2
	if [ "$1" = L2 ]; then
		printf 'GROUP=%q\nMODULES=%q\nKMODS=\nTESTS=%q\nTEST_TIMEOUT=%q\n' \
			"$GROUP-l2" "$L2_MODULES" "$L2_TESTS" "$TEST_TIMEOUT"
	else
		printf 'GROUP=%q\nMODULES=%q\nKMODS=%q\nTESTS=%q\nTEST_TIMEOUT=%q\nL2_MACHINE=%q\n' \
			"$GROUP" "$MODULES" "$KMODS" "$TESTS" "$TEST_TIMEOUT" "$L2_MACHINE"
	fi
}

# mk_root ROOT KREL MODDIR KMODROOT LEVEL: populate an initramfs tree.
#   MODDIR: where our .ko files are; KMODROOT: root of
#   the kernel's own modules (stock) or empty; LEVEL: L1|L2.
mk_root() {
	local root=$1 krel=$2 moddir=$3 kmodroot=$4 level=$5 m a
	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,boot,hvkit/bin,hvkit/tests}
	install -m 755 /bin/busybox "$root/bin/busybox"
	for a in $(/bin/busybox --list); do
		[ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
	done
	install -m 755 "$LIB/init.sh" "$root/init"
	group_env "$level" >"$root/hvkit/group.env"
	cp -a "$BUILT_TESTS/tests/." "$root/hvkit/tests/"
	cp -a "$BUILT_TESTS/bin/." "$root/hvkit/bin/"
	install -m 755 "$LIB/l2.sh" "$root/hvkit/bin/hvkit-l2"
	install -m 644 "$BAD_PATTERNS" "$root/hvkit/bad-log-patterns"
	# Module options (e.g. kram's region=), as /etc/modprobe.d would hold them.
	if [ "$level" = L1 ] && [ -n "$MODPROBE_CONF" ]; then
		mkdir -p "$root/etc/modprobe.d"
		printf '%s\n' "$MODPROBE_CONF" >"$root/etc/modprobe.d/hvkit.conf"
	fi
	# Our modules, as DKMS (or the build) left them; none in an L1 that
	# only hosts the L2 under test (l1_is_stock), so that L1 cannot run
	# hvkit code.
	mkdir -p "$root/lib/modules/$krel/updates"
	if [ "$level" = L2 ] || ! l1_is_stock; then
		find "$moddir" -name '*.ko' -exec cp {} "$root/lib/modules/$krel/updates/" \;
	fi
	if [ -n "$kmodroot" ]; then
		local mods="$KMODS" ko
		[ "$level" = L2 ] && mods=""
		# And the distribution modules ours depend on (kvm_hybrid: kvm).
		for ko in "$root/lib/modules/$krel/updates"/*.ko; do
			[ -e "$ko" ] || continue
			mods="$mods $(modinfo -F depends "$ko" | tr ',' ' ')"
		done
		for m in $mods; do
			# One of ours (vfio_preserve needs kram): already there.
			[ -e "$root/lib/modules/$krel/updates/$m.ko" ] && continue
			modprobe -S "$krel" -d "$kmodroot" --show-depends "$m" |
				awk '$1 == "insmod" { print $2 }' |
				while read -r f; do
					install -D -m 644 "$f" "$root/${f#"$kmodroot"/}"
				done
		done
		cp "$kmodroot/lib/modules/$krel"/modules.{builtin,builtin.modinfo,order} \
			"$root/lib/modules/$krel/" 2>/dev/null
	else
		# Everything the tests need is built in (debug kernel).
		touch "$root/lib/modules/$krel"/modules.{builtin,builtin.modinfo,order}
	fi
	depmod -b "$root" "$krel" || return 1
	# kexec tests need the kernel image and kexec(8) inside the VM.
	case " $TESTS " in
	*" kexec:"*)
		cp "$VMLINUZ" "$root/boot/vmlinuz"
		copy_bin "$root" "$(command -v kexec)"
		;;
	esac
}

mk_cpio() { # mk_cpio ROOT OUT
	(cd "$1" && find . | cpio -o -H newc --quiet | gzip -1) >"$2"
}

# add_l2 ROOT: QEMU, its firmware, the L2 kernel and L2 initramfs into L1.
# add_qemu ROOT: QEMU, its libraries and firmware into an L1 root.
add_qemu() {
	local root=$1 f
	copy_bin "$root" "$(command -v qemu-system-x86_64)"
	mkdir -p "$root/usr/share/qemu"
	for f in /usr/share/seabios/bios-256k.bin /usr/share/qemu/{qboot.rom,linuxboot_dma.bin,kvmvapic.bin,pvh.bin,multiboot_dma.bin}; do
		cp -L "$f" "$root/usr/share/qemu/" || return 1
	done
	[ -e "$root/usr/share/qemu/bios-microvm.bin" ] ||
		ln -s qboot.rom "$root/usr/share/qemu/bios-microvm.bin"
}

add_l2() {
	local root=$1 l2root=$HVKIT_OUT/vm/$KIND-$GROUP/l2root
	add_qemu "$root" || return 1
	mkdir -p "$root/hvkit/l2"
	cp "$VMLINUZ" "$root/hvkit/l2/vmlinuz"
	mk_root "$l2root" "$KREL" "$MODDIR" "$KMODROOT" L2 || return 1
	mk_cpio "$l2root" "$root/hvkit/l2/initrd.gz"
	printf 'L2_CMDLINE=%q\nL2_QEMU_ARGS=%q\nL2_MEM=%q\n' \
		"$L2_CMDLINE" "$L2_QEMU_ARGS" "$L2_MEM" >"$root/hvkit/l2/l2.env"
}

# ---------------------------------------------------------------- booting

# Console-log lines that fail a group whatever the tests said (one ERE a
# line; hvkit-l2 applies the same list to L2's console inside L1).
BAD_PATTERNS=$LIB/bad-log-patterns
# L1 kernel-log lines that mark a fault of nested SVM under TCG itself.
PLATFORM_FAULTS=$LIB/platform-fault-patterns

# vm_watch DIR: watch the group's running QEMU every 15 s and kill it
#   - when it has used no CPU time for STALL_SECS (default 180): DIR/stalled.
#     Every test VM keeps working (or polling, as hvkit-l2 does) until it
#     powers off; a QEMU idle that long is deadlocked (seen under nested
#     TCG: L1 stopped with its QEMU at 0 % CPU and no message);
#   - when L1's console shows a PLATFORM_FAULTS line: DIR/fault. Such a run
#     fails its kernel-log check whatever follows, and the faulted L1 has
#     always hung until TIMEOUT (up to 900 s) after it;
#   - when PID 1 has not reported yet and the console has not grown for
#     BOOT_STALL_SECS (default 120): DIR/boothang. A booting kernel prints
#     all the time; seen in CI23: L1 stopped at 2.37 s of its boot with
#     QEMU spinning at 200 % CPU, and would have waited out 900 s.
# Waits for DIR/qemu.pid.
vm_watch() {
	local dir=$1 pid='' cpu last='' still=0 limit=${STALL_SECS:-180} line
	local csize clast='' cstill=0 blimit=${BOOT_STALL_SECS:-120}
	for _ in $(seq 100); do
		pid=$(cat "$dir/qemu.pid" 2>/dev/null) && [ -n "$pid" ] && break
		sleep 0.2
	done
	[ -n "$pid" ] || return 0
	while kill -0 "$pid" 2>/dev/null; do
		sleep 15
		if line=$(grep -aEm1 -f "$PLATFORM_FAULTS" "$dir/console.log"); then
			# Let the kernel finish printing the fault's traces.
			sleep 10
			echo "$line" | tr -d '\r' | cut -c1-120 >"$dir/fault"
			kill -KILL "$pid" 2>/dev/null
			return 0
		fi
		if [ ! -s "$dir/results.txt" ]; then
			csize=$(stat -c %s "$dir/console.log" 2>/dev/null || echo 0)
			if [ "$csize" = "$clast" ]; then
				cstill=$((cstill + 15))
			else
				cstill=0
				clast=$csize
			fi
			if [ "$cstill" -ge "$blimit" ]; then
				echo "no console output for ${cstill} s and no report from PID 1" >"$dir/boothang"
				kill -KILL "$pid" 2>/dev/null
				return 0
			fi
		fi
		cpu=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null) || return 0
		if [ "$cpu" = "$last" ]; then
			still=$((still + 15))
		else
			still=0
			last=$cpu
		fi
		if [ "$still" -ge "$limit" ]; then
			echo "QEMU used no CPU time for ${still} s" >"$dir/stalled"
			kill -KILL "$pid" 2>/dev/null
			return 0
		fi
	done
}

# own_frames FILE: the lines of FILE naming a function of an hvkit module
# ("func+0x../0x.. [kram]" in a trace; "Modules linked in:" has no brackets).
HVKIT_MODULES=$(sed -n 's/^BUILT_MODULE_NAME\[[0-9]*\]="\(.*\)"$/\1/p' "$HVKIT_TOP/dkms.conf" | paste -sd' ')
own_frames() {
	grep -aE "\[($(echo "$HVKIT_MODULES" | tr ' ' '|'))\]" "$1"
}

# boot_vm DIR INITRD: one QEMU run of the loaded group (and its host helper).
boot_vm() {
	local dir=$1 initrd=$2 helper='' qargs rc watcher
	: >"$dir/results.txt"
	# For HOST_HELPER, HOST_HELPER_READY and QEMU_ARGS (evaluated below).
	export VMDIR=$dir
	if [ -n "$HOST_HELPER" ]; then
		eval "$HOST_HELPER" >"$dir/helper.log" 2>&1 &
		helper=$!
		for _ in $(seq 50); do
			[ -z "$HOST_HELPER_READY" ] && break
			[ -e "$(eval echo "$HOST_HELPER_READY")" ] && break
			sleep 0.2
		done
	fi
	qargs=$(eval echo "${QEMU_ARGS//$'\n'/ }")
	log "group $GROUP on $KIND kernel: booting ($(du -h "$initrd" | cut -f1) initramfs, timeout ${TIMEOUT}s)"
	rm -f "$dir/qemu.pid" "$dir/stalled" "$dir/fault" "$dir/boothang"
	vm_watch "$dir" &
	watcher=$!
	# shellcheck disable=SC2086
	timeout --foreground -k 10 "$TIMEOUT" qemu-system-x86_64 -pidfile "$dir/qemu.pid" \
		-M q35 -accel "${HVKIT_ACCEL:-$ACCEL}" -cpu EPYC,+svm -smp "$SMP" -m "$MEM" \
		-nodefaults -display none -no-reboot \
		-kernel "$VMLINUZ" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 panic_on_warn=1 oops=panic $CMDLINE" \
		-serial "file:$dir/console.log" -serial "file:$dir/results.txt" \
		$qargs >"$dir/qemu.log" 2>&1
	rc=$?
	kill "$watcher" 2>/dev/null
	wait "$watcher" 2>/dev/null
	if [ -n "$helper" ]; then
		kill "$helper" 2>/dev/null
		wait "$helper" 2>/dev/null
	fi
	return $rc
}

# run_group KIND FILE: build the group's initramfs, boot it, count results.
run_group() {
	KIND=$1
	load_group "$2"
	local dir=$HVKIT_OUT/vm/$KIND-$GROUP root initrd rc qemu_rc l2=0 lines name why fault
	rm -rf "$dir"
	mkdir -p "$dir"
	root=$dir/root
	initrd=$dir/initrd.gz
	[ -n "$L2_TESTS$L2_MODULES" ] && l2=1
	log "group $GROUP on $KIND kernel: ${DESCRIPTION:-no description}; building initramfs"
	if ! mk_root "$root" "$KREL" "$MODDIR" "$KMODROOT" L1 ||
		{ [ $l2 = 1 ] && ! add_l2 "$root"; } ||
		{ [ -n "$QEMU_IN_L1" ] && ! add_qemu "$root"; }; then
		count fail "$KIND/$GROUP: initramfs"
		return
	fi
	mk_cpio "$root" "$initrd"
	boot_vm "$dir" "$initrd"
	qemu_rc=$?
	# A boot that hangs before PID 1 wrote a single line is the emulator,
	# not a test (seen under TCG, before any module is loaded): retry it
	# once, loudly. Any hang after PID 1 started is a failure.
	if { [ "$qemu_rc" = 124 ] || [ -e "$dir/boothang" ]; } &&
		[ ! -s "$dir/results.txt" ] &&
		! grep -aqEf "$BAD_PATTERNS" "$dir/console.log"; then
		log "group $GROUP: boot hung before PID 1 ran ($(cat "$dir/boothang" 2>/dev/null || echo "timeout")); retrying once (first log: console.log.hung)"
		mv "$dir/console.log" "$dir/console.log.hung"
		RETRIED+=("$KIND/$GROUP (boot hung before PID 1)")
		boot_vm "$dir" "$initrd"
		qemu_rc=$?
	fi
	# Nested SVM under TCG sometimes faults in L1's own KVM or emulator
	# (PLATFORM_FAULTS, or a stalled QEMU). Retry such a run once, loudly
	# (the retry must pass on its own), when the fault cannot be hvkit's:
	#   - L1 runs no hvkit code (l1_is_stock): a correct L1 cannot be
	#     locked up by its guest, whatever L2 did;
	#   - or L1 runs hvkit modules but no trace in L1's log has a frame
	#     of one (a lockup or stall prints the stuck CPU's stack).
	if [ -e "$dir/stalled" ] || [ -e "$dir/fault" ] ||
		grep -aqEf "$PLATFORM_FAULTS" "$dir/console.log"; then
		why=
		if l1_is_stock; then
			why="L1 runs no hvkit code"
		elif ! own_frames "$dir/console.log" >/dev/null; then
			why="no hvkit frame in L1's traces"
		fi
		fault=$(cat "$dir/stalled" "$dir/fault" 2>/dev/null | head -n1)
		[ -n "$fault" ] || fault=$(grep -aEm1 -f "$PLATFORM_FAULTS" "$dir/console.log" | tr -d '\r' | cut -c1-120)
		log "group $GROUP: L1 platform fault: $fault"
		if [ -n "$why" ]; then
			log "group $GROUP: $why; retrying once (first run: console.log.fault, results.txt.fault)"
			mv "$dir/console.log" "$dir/console.log.fault"
			mv "$dir/results.txt" "$dir/results.txt.fault"
			RETRIED+=("$KIND/$GROUP ($why)")
			boot_vm "$dir" "$initrd"
			qemu_rc=$?
		else
			log "group $GROUP: not retried: a trace names hvkit code: $(own_frames "$dir/console.log" | head -n1 | tr -d '\r' | cut -c1-100)"
		fi
	fi
	grep -a '^HVKIT: ' "$dir/results.txt" | sed 's/^HVKIT: //' | tr -d '\r' >"$dir/results.tap"
	# Per-test lines, as the VM reported them.
	while IFS= read -r lines; do
		case "$lines" in
		"ok "*"# SKIP"*)
			name=${lines#ok [0-9]* }
			count skip "$KIND/${name%% # SKIP*}" "${name#* # SKIP}" ;;
		"ok "*) count ok "$KIND/${lines#ok [0-9]* }" ;;
		"not ok "*) count fail "$KIND/${lines#not ok [0-9]* }" ;;
		esac
	done <"$dir/results.tap"
	# The VM as a whole: finished, no oops/WARN/lockdep/KASAN, no hang.
	rc=ok
	if [ -e "$dir/stalled" ]; then
		count fail "$KIND/$GROUP: VM" "emulator stalled: $(cat "$dir/stalled")"; rc=fail
	elif [ -e "$dir/boothang" ]; then
		count fail "$KIND/$GROUP: VM" "boot hung before PID 1: $(cat "$dir/boothang")"; rc=fail
	elif [ -e "$dir/fault" ]; then
		count fail "$KIND/$GROUP: VM" "killed on a platform fault: $(cat "$dir/fault")"; rc=fail
	elif [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
		count fail "$KIND/$GROUP: VM" "hang: killed after ${TIMEOUT}s"; rc=fail
	elif ! grep -q '^done ' "$dir/results.tap"; then
		count fail "$KIND/$GROUP: VM" "no result line (qemu exit $qemu_rc)"; rc=fail
	fi
	if grep -aEnf "$BAD_PATTERNS" "$dir/console.log" >"$dir/bad.txt"; then
		count fail "$KIND/$GROUP: kernel log" "$(head -n1 "$dir/bad.txt" | cut -c1-100)"
		rc=fail
	fi
	[ $rc = ok ] && count ok "$KIND/$GROUP: VM clean"
	if [ $rc = fail ] || grep -q '^not ok' "$dir/results.tap"; then
		log "console log: $dir/console.log (last lines follow)"
		tail -n 40 "$dir/console.log" | sed 's/^/    | /' >&2
	fi
}

groups_for() { # groups_for SUITE [names...]: group files of a suite
	local suite=$1 f
	shift
	for f in "$HVKIT_TOP"/selftests/groups/*.group; do
		if [ $# -gt 0 ]; then
			case " $* " in *" $(basename "$f" .group) "*) ;; *) continue ;; esac
		fi
		# "manual" groups run only when named (never in check).
		(load_group "$f"; case " $SUITES " in *" $suite "*) exit 0 ;;
			*" manual "*) [ $# -gt 0 ] ;; *) exit 1 ;; esac) &&
			echo "$f"
	done
}

# ---------------------------------------------------------------- suites

suite_stock() { # suite_stock nested|stock MODDIR [groups]
	local suite=$1 g
	MODDIR=$2
	shift 2
	local sroot
	sroot=$("$LIB/stock-kernel.sh") || { count fail "stock kernel download"; return; }
	KREL=$KVER
	VMLINUZ=$sroot/root/boot/vmlinuz-$KVER
	KMODROOT=$sroot/root
	build_userspace || { count fail "userspace build (tests, hvkitctl)"; return; }
	for g in $(groups_for "$suite" "$@"); do
		run_group stock "$g"
	done
}

suite_debug() {
	local src dest=$HVKIT_OUT/build/debug g start
	start=$(date +%s)
	src=$("$LIB/debug-kernel.sh") || { count fail "debug kernel build"; return; }
	log "debug kernel ready after $(($(date +%s) - start)) s ($src)"
	if build_modules "$src" "$dest"; then
		count ok "debug: W=1 build against the debug kernel"
	else
		count fail "debug: W=1 build against the debug kernel"
		return
	fi
	build_userspace || { count fail "userspace build (tests, hvkitctl)"; return; }
	KREL=$(cat "$src/include/config/kernel.release")
	VMLINUZ=$src/arch/x86/boot/bzImage
	KMODROOT=
	MODDIR=$dest
	for g in $(groups_for debug "$@"); do
		run_group debug "$g"
	done
}

step_build() { # W=1 modules against the Debian headers
	if build_modules "$STOCK_KDIR" "$HVKIT_OUT/build/stock"; then
		count ok "build: W=1 modules for $KVER, no warnings"
	else
		count fail "build: W=1 modules for $KVER"
		return 1
	fi
}

step_static() {
	local k out=$HVKIT_OUT/build/sparse
	step_build
	copy_tree "$out"
	make -C "$out" KDIR="$STOCK_KDIR" C=2 modules >"$out/sparse.log" 2>&1
	# sparse reports as "file:line:col: warning/error:"; our files only.
	if grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error):' "$out/sparse.log" | grep -v '^/usr/src/'; then
		count fail "sparse C=2"
	else
		count ok "sparse C=2: clean"
	fi
	k=$(ksrc) || { count fail "checkpatch: extract"; return; }
	if make -s -C "$HVKIT_TOP" CHECKPATCH="$k/scripts/checkpatch.pl" style; then
		count ok "checkpatch --strict and shellcheck: clean"
	else
		count fail "checkpatch --strict or shellcheck"
	fi
}

DKMS_MODDIR=
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

step_dkms() {
	local ver
	ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$HVKIT_TOP/dkms.conf")
	if make -s -C "$HVKIT_TOP" KERNELRELEASE="$KVER" dkms-install >"$HVKIT_OUT/dkms.log" 2>&1; then
		DKMS_MODDIR=/lib/modules/$KVER/updates/dkms
		if [ -f "$DKMS_MODDIR/kram.ko" ] && dkms status "hvkit/$ver" -k "$KVER" | grep -q installed; then
			count ok "dkms add/build/install hvkit/$ver -k $KVER"
			return 0
		fi
	fi
	cat "$HVKIT_OUT/dkms.log"
	count fail "dkms add/build/install hvkit/$ver -k $KVER"
	return 1
}

# ---------------------------------------------------------------- main

mkdir -p "$HVKIT_OUT"
cmd=${1:-check}
[ $# -gt 0 ] && shift
# On a fresh machine the package lists come with the dependencies.
case "$cmd" in
check|demo) "$LIB/deps.sh" || die "dependencies" ;;
esac
KVER=$(stock_kver)
STOCK_KDIR=/usr/src/linux-headers-$KVER
case "$cmd" in
check)
	t0=$(date +%s)
	step_static
	if step_dkms; then
		suite_stock stock "$DKMS_MODDIR"
		suite_stock nested "$DKMS_MODDIR"
	fi
	suite_debug
	suite_stock bench "$HVKIT_OUT/build/stock"
	bench_tables
	log "make check wall time: $(($(date +%s) - t0)) s"
	summary
	;;
bench)
	step_build && suite_stock bench "$HVKIT_OUT/build/stock" "$@"
	bench_tables
	summary
	;;
quick)
	step_build && suite_stock stock "$HVKIT_OUT/build/stock" "$@"
	summary
	;;
static)
	step_static
	summary
	;;
dkms)
	step_dkms
	summary
	;;
stock|nested)
	step_build && suite_stock "$cmd" "$HVKIT_OUT/build/stock" "$@"
	summary
	;;
debug)
	suite_debug "$@"
	summary
	;;
demo)
	step_build || exit 1
	suite_stock demo "$HVKIT_OUT/build/stock" demo
	echo
	echo "---- inside the VM ----"
	sed -n '/=== hvkit test demo\/demo/,/=== hvkit/p' "$HVKIT_OUT/vm/stock-demo/console.log" |
		grep -av '^=== hvkit' | grep -avE '^(HVKIT: |\[ *[0-9]+\.[0-9]+\])'
	summary
	;;
*)
	sed -n '3,20p' "$0"
	exit 2
	;;
esac

# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Boot mechanics of the hvkit runner (sourced by selftests/run.sh): the
# initramfs of a group, one QEMU run with its host helper, and the watcher
# that ends a run early. No policy here: what a failed run means, and
# whether it may run again, is lib/policy.sh's.
#
# Uses the group's settings (load_group in run.sh), the kernel sets
# (kernel_set in run.sh: KREL, VMLINUZ, KMODROOT: the stock kernel's
# unpacked modules, empty on the debug kernel; MODKOS: our .ko files built
# for it), BUILT_TESTS, KIND, LIB.

# Console-log lines that fail a group whatever the tests said (one ERE a
# line; hvkit-l2 applies the same list to L2's console inside L1).
BAD_PATTERNS=$LIB/bad-log-patterns
# Kernel-log lines that mark a fault of nested SVM under TCG itself.
PLATFORM_FAULTS=$LIB/platform-fault-patterns

# shlibs FILE...: the shared libraries the dynamic executables among
# FILEs load, one path per line, as ldd names them (none for a script or
# a static program).
shlibs() {
	local f
	for f in "$@"; do
		[ "$(head -c 4 "$f")" = $'\x7fELF' ] || continue
		ldd "$f" 2>/dev/null | grep -oE '/[^ ]+'
	done
}

# copy_libs ROOT LIB...: shared libraries (paths as ldd prints them) into
# ROOT, unless there already.
copy_libs() {
	local root=$1 lib
	shift
	for lib in "$@"; do
		[ -e "$root$lib" ] || install -D -m 755 "$(readlink -f "$lib")" "$root$lib" ||
			return 1
	done
}

# copy_bin ROOT FILE...: dynamic executables with their shared libraries.
copy_bin() {
	local root=$1 f
	shift
	for f in "$@"; do
		install -D -m 755 "$f" "$root/hvkit/bin/$(basename "$f")" || return 1
		# shellcheck disable=SC2046
		copy_libs "$root" $(shlibs "$f") || return 1
	done
}

# l1_is_stock: the loaded group runs its hvkit code only in L2; L1 gets
# no hvkit module (mk_root) and runs stock KVM and QEMU.
l1_is_stock() {
	[ -z "$MODULES" ] && [ -n "$L2_TESTS$L2_MODULES" ]
}

# kram_region_expected: the group gives kram a region (MODPROBE_CONF), so
# the tests must find it attached; elsewhere they test kram without one.
kram_region_expected() {
	case "$MODPROBE_CONF" in *"options kram "*region=*) return 0 ;; esac
	return 1
}

# group_env L1|L2: the settings PID 1 and the tests read (/hvkit/group.env);
# LEVEL=L2 in an L2's.
# BENCH_QUICK=yes: a benchmark run by make check (suite bench-check),
# whose fewer rounds show that it runs; make bench gives the figures.
group_env() { # group_env L1|L2
	if [ "$1" = L2 ]; then
		printf 'GROUP=%q\nMODULES=%q\nKMODS=\nTESTS=%q\nTEST_TIMEOUT=%q\nKRAM_REGION=no\nSUITE_KIND=%q\nLEVEL=L2\n' \
			"$GROUP-l2" "$L2_MODULES" "$L2_TESTS" "$TEST_TIMEOUT" "$KIND"
	else
		printf 'GROUP=%q\nMODULES=%q\nKMODS=%q\nTESTS=%q\nTEST_TIMEOUT=%q\nL2_MACHINE=%q\nKRAM_REGION=%s\nSUITE_KIND=%q\nCOLDPLUG=%q\nBENCH_QUICK=%s\nL1_PMU=%s\n' \
			"$GROUP" "$MODULES" "$KMODS" "$TESTS" "$TEST_TIMEOUT" "$L2_MACHINE" \
			"$(kram_region_expected && echo yes || echo no)" "$KIND" \
			"$([ -n "$KMODROOT" ] && echo "$COLDPLUG")" \
			"$([ "${RUN_SUITE:-}" = bench-check ] && echo yes || echo no)" "$L1_PMU"
	fi
}

# root_systemd ROOT: L1's tree for INIT=systemd: the minimal Debian of
# lib/rootfs.sh (cached), booted as the initramfs with systemd as /init;
# PID 1's script of the other VMs (lib/init.sh) runs as the service
# hvkit-tests.service once the system is up, and reports as it does there.
# DEBS: those packages of the package cycle (lib/deb.sh) in /hvkit/debs.
root_systemd() {
	local root=$1 fs p deb wants=$1/etc/systemd/system/multi-user.target.wants
	fs=$("$LIB/rootfs.sh") || return 1
	cp -a "$fs/root" "$root" || return 1
	mkdir -p "$root/hvkit/bin" "$root/hvkit/tests" "$root/hvkit/debs" "$wants"
	ln -s /sbin/init "$root/init"
	install -m 755 "$LIB/init.sh" "$root/hvkit/init"
	install -m 644 "$LIB/hvkit-tests.service" "$root/etc/systemd/system/"
	ln -s ../hvkit-tests.service "$wants/hvkit-tests.service"
	for p in $DEBS; do
		deb=$(ls "$HVKIT_OUT"/deb/cur/"${p}"_*.deb 2>/dev/null | head -n1)
		[ -n "$deb" ] || { echo "no $p package in $HVKIT_OUT/deb/cur (lib/deb.sh)" >&2; return 1; }
		cp "$deb" "$root/hvkit/debs/" || return 1
	done
}

# mk_root ROOT LEVEL: populate an initramfs tree for L1 or L2.
mk_root() {
	local root=$1 level=$2 m a ko upd tests=$TESTS
	rm -rf "$root"
	if [ "$level" = L1 ] && [ "${INIT:-}" = systemd ]; then
		root_systemd "$root" || return 1
	else
		mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,boot,hvkit/bin,hvkit/tests}
		install -m 755 /bin/busybox "$root/bin/busybox"
		for a in $(/bin/busybox --list); do
			[ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
		done
		install -m 755 "$LIB/init.sh" "$root/init"
	fi
	group_env "$level" >"$root/hvkit/group.env"
	cp -a "$BUILT_TESTS/tests/." "$root/hvkit/tests/"
	cp -a "$BUILT_TESTS/bin/." "$root/hvkit/bin/"
	# The test programs' shared libraries (build_userspace listed them).
	# shellcheck disable=SC2046
	copy_libs "$root" $(cat "$BUILT_TESTS/libs") || return 1
	install -m 755 "$LIB/l2.sh" "$root/hvkit/bin/hvkit-l2"
	install -m 644 "$LIB/policy.sh" "$root/hvkit/policy.sh"
	install -m 644 "$BAD_PATTERNS" "$root/hvkit/bad-log-patterns"
	# Module options (e.g. kram's region=), as /etc/modprobe.d would hold them.
	if [ "$level" = L1 ] && [ -n "$MODPROBE_CONF" ]; then
		mkdir -p "$root/etc/modprobe.d"
		printf '%s\n' "$MODPROBE_CONF" >"$root/etc/modprobe.d/hvkit.conf"
	fi
	# Our modules, exactly those this build produced (MODKOS); none in an
	# L1 that only hosts the L2 under test (l1_is_stock), so that L1
	# cannot run hvkit code.
	upd=$root/lib/modules/$KREL/updates
	mkdir -p "$upd"
	if [ "$level" = L2 ] || ! l1_is_stock; then
		for ko in $MODKOS; do
			cp "$ko" "$upd/" || return 1
		done
	fi
	# PREV_KOS: the previous package version's modules (lib/deb.sh), for
	# a test that loads them by path; never in modules.dep.
	if [ "$level" = L1 ] && [ -n "$PREV_KOS" ]; then
		mkdir -p "$root/hvkit/prev"
		for ko in "$HVKIT_OUT"/deb/prev-kos/*.ko; do
			[ -e "$ko" ] || { echo "no previous package build in $HVKIT_OUT/deb/prev-kos" >&2; return 1; }
			cp "$ko" "$root/hvkit/prev/" || return 1
		done
	fi
	if [ -n "$KMODROOT" ]; then
		# COLDPLUG: distribution modules in the image that PID 1 does
		# not load by name; its coldplug loads them by modalias.
		local mods="$KMODS $COLDPLUG"
		[ "$level" = L2 ] && mods=""
		# And the distribution modules ours depend on (kvm_hybrid: kvm).
		for ko in "$upd"/*.ko; do
			[ -e "$ko" ] || continue
			mods="$mods $(modinfo -F depends "$ko" | tr ',' ' ')"
		done
		for m in $mods; do
			# One of ours (vfio_preserve needs kram): already there.
			[ -e "$upd/$m.ko" ] && continue
			modprobe -S "$KREL" -d "$KMODROOT" --show-depends "$m" |
				awk '$1 == "insmod" { print $2 }' |
				while read -r f; do
					install -D -m 644 "$f" "$root/${f#"$KMODROOT"/}"
				done
		done
		cp "$KMODROOT/lib/modules/$KREL"/modules.{builtin,builtin.modinfo,order} \
			"$root/lib/modules/$KREL/" 2>/dev/null
	else
		# Everything the tests need is built in (debug kernel).
		touch "$root/lib/modules/$KREL"/modules.{builtin,builtin.modinfo,order}
	fi
	depmod -b "$root" "$KREL" || return 1
	# Coldplug as udev does it: kmod's modprobe (softdeps, modules.alias),
	# not busybox's, which knows no softdep. Only there: PID 1 and the
	# tests keep busybox modprobe.
	if [ "$level" = L1 ] && [ -n "$COLDPLUG" ] && [ -n "$KMODROOT" ]; then
		copy_bin "$root" "$(command -v kmod)" || return 1
		mkdir -p "$root/hvkit/kmod"
		ln -s ../bin/kmod "$root/hvkit/kmod/modprobe"
	fi
	# kexec tests need the kernel image and kexec(8) inside the VM; an
	# L2 root only when one of L2's own tests kexecs (none does: the
	# live-update group kexecs L1 under its L2, whose image was 8 MB
	# larger for it, loaded and unpacked at every L1 and L2 boot).
	[ "$level" = L2 ] && tests=$L2_TESTS
	case " $tests " in
	*" kexec:"*)
		cp "$VMLINUZ" "$root/boot/vmlinuz" || return 1
		copy_bin "$root" "$(command -v kexec)" || return 1
		;;
	esac
}

# mk_cpio ROOT OUT: an uncompressed initramfs. The guest kernel's gunzip
# ran for 18 s of a debug L2's 58 s boot (7 MB, KASAN under nested TCG);
# an uncompressed one is copied, not inflated (a debug L1: 1.5 s to unpack
# 16 MB instead of 2.7-4.4 s for the same files gzipped).
mk_cpio() {
	(cd "$1" && find . | cpio -o -H newc --quiet) >"$2"
}

# add_qemu ROOT: QEMU, its libraries and firmware into an L1 root.
add_qemu() {
	local root=$1 f
	copy_bin "$root" "$(command -v qemu-system-x86_64)" || return 1
	mkdir -p "$root/usr/share/qemu"
	for f in /usr/share/seabios/bios-256k.bin /usr/share/qemu/{qboot.rom,linuxboot_dma.bin,kvmvapic.bin,pvh.bin,multiboot_dma.bin}; do
		cp -L "$f" "$root/usr/share/qemu/" || return 1
	done
	[ -e "$root/usr/share/qemu/bios-microvm.bin" ] ||
		ln -s qboot.rom "$root/usr/share/qemu/bios-microvm.bin"
}

# add_l2 ROOT DIR: QEMU, its firmware, the L2 kernel (the suite's kernel:
# the debug suite's L2 boots the debug kernel too) and L2 initramfs into L1.
add_l2() {
	local root=$1 l2root=$2/l2root
	add_qemu "$root" || return 1
	mkdir -p "$root/hvkit/l2"
	cp "$VMLINUZ" "$root/hvkit/l2/vmlinuz"
	mk_root "$l2root" L2 || return 1
	mk_cpio "$l2root" "$root/hvkit/l2/initrd.cpio"
	printf 'L2_CMDLINE=%q\nL2_QEMU_ARGS=%q\nL2_MEM=%q\nL2_CPUS=%q\n' \
		"$L2_CMDLINE" "$L2_QEMU_ARGS" "$L2_MEM" "$L2_CPUS" >"$root/hvkit/l2/l2.env"
}

# mk_image DIR L1-KERNEL L2-KERNEL: the group's initramfs as DIR/initrd.cpio
# (kernel_set names); leaves the L1 kernel set for boot_vm.
mk_image() {
	local dir=$1
	kernel_set "$2"
	mk_root "$dir/root" L1 || return 1
	if [ -n "$L2_TESTS$L2_MODULES" ]; then
		kernel_set "$3"
		add_l2 "$dir/root" "$dir" || return 1
		kernel_set "$2"
	elif [ -n "$QEMU_IN_L1" ]; then
		add_qemu "$dir/root" || return 1
	fi
	mk_cpio "$dir/root" "$dir/initrd.cpio"
}

# vm_watch DIR: watch the group's running QEMU every 15 s and kill it
#   - when it has used no CPU time for STALL_SECS (default 180): DIR/stalled.
#     Every test VM keeps working (or polling, as hvkit-l2 does) until it
#     powers off; a QEMU idle that long is deadlocked (seen under nested
#     TCG: L1 stopped with its QEMU at 0 % CPU and no message);
#   - when one of L1's own kernel lines is a PLATFORM_FAULTS line:
#     DIR/fault, after 10 s more for the kernel to print its traces;
#   - when PID 1 has not reported yet and the console has not grown for
#     BOOT_STALL_SECS (default 120): DIR/boothang. A booting kernel prints
#     all the time; seen in CI23: L1 stopped at 2.37 s of its boot with
#     QEMU spinning at 200 % CPU, and would have waited out 900 s.
# Before it kills a VM, and 30 s before the timeout kills one, the watcher
# records what the VM's vCPUs were doing (DIR/vcpus.txt, through QEMU's
# monitor): a hang says where it hung.
# Waits for DIR/qemu.pid.
vm_watch() {
	local dir=$1 pid='' cpu last='' still=0 limit=${STALL_SECS:-180} line
	local csize clast='' cstill=0 blimit=${BOOT_STALL_SECS:-120} t0=$SECONDS
	for _ in $(seq 100); do
		pid=$(cat "$dir/qemu.pid" 2>/dev/null) && [ -n "$pid" ] && break
		sleep 0.2
	done
	[ -n "$pid" ] || return 0
	while kill -0 "$pid" 2>/dev/null; do
		sleep 15
		if [ $((SECONDS - t0)) -ge $((TIMEOUT - 30)) ] && [ ! -e "$dir/vcpus.txt" ]; then
			vm_vcpus "$dir"
		fi
		if line=$(platform_fault "$dir/console.log" "$PLATFORM_FAULTS") && [ -n "$line" ]; then
			# Its backtraces first: a stall's NMI backtrace of a stuck
			# CPU comes after up to 10 s (a 10 s wait cut it off, stock
			# vfio, 2026-12-02). Quiet console for 5 s, 40 s at most;
			# then where each vCPU is, from QEMU's monitor.
			local q=0 w=0 last=-1 size
			while [ $w -lt 40 ] && [ $q -lt 5 ]; do
				sleep 1
				size=$(stat -c %s "$dir/console.log" 2>/dev/null || echo 0)
				if [ "$size" = "$last" ]; then q=$((q + 1)); else q=0; fi
				last=$size
				w=$((w + 1))
			done
			[ -e "$dir/vcpus.txt" ] || vm_vcpus "$dir"
			vm_stop "$dir" "$pid" fault "$line"
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
				vm_stop "$dir" "$pid" boothang \
					"no console output for ${cstill} s and no report from PID 1"
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
			vm_stop "$dir" "$pid" stalled "QEMU used no CPU time for ${still} s"
			return 0
		fi
	done
}

# vm_stop DIR PID FILE WHY: why the watcher stops the VM (DIR/FILE), what
# its vCPUs were doing, then the kill.
vm_stop() {
	echo "$4" >"$1/$3"
	vm_vcpus "$1"
	kill -KILL "$2" 2>/dev/null
}

# vm_vcpus DIR: the vCPUs' state of the VM running in DIR, into DIR/vcpus.txt,
# with each local APIC's (IRR above PPR with IF=1 on a halted vCPU: an
# interrupt the emulated CPU does not take, as CI c6 of 2026-12-02 caught).
vm_vcpus() {
	local c=0 lapic=()

	while [ "$c" -lt "${SMP:-2}" ]; do
		lapic+=("info lapic $c")
		c=$((c + 1))
	done
	"$LIB/hmp.py" "$1/monitor.sock" "info status" "info cpus" "info registers -a" \
		"${lapic[@]}" >"$1/vcpus.txt" 2>&1
}

# Everything a run started, for stop_all (run.sh traps EXIT, INT, TERM).
HELPER_PGID='' WATCHER_PID='' QEMU_PIDFILE=''

# stop_all: kill the running QEMU, its watcher and its host helper (with
# everything the helper started: it runs in its own process group).
stop_all() {
	local pid
	if [ -n "$QEMU_PIDFILE" ] && pid=$(cat "$QEMU_PIDFILE" 2>/dev/null) && [ -n "$pid" ]; then
		kill -KILL "$pid" 2>/dev/null
	fi
	if [ -n "$WATCHER_PID" ]; then
		# Its sleep too: killed alone, the watcher would leave its
		# current sleep (up to 15 s) behind, in the group's cgroup.
		pid=$(cat /proc/"$WATCHER_PID"/task/*/children 2>/dev/null)
		kill "$WATCHER_PID" 2>/dev/null && wait "$WATCHER_PID" 2>/dev/null
		# shellcheck disable=SC2086 # one pid per word
		[ -z "$pid" ] || kill $pid 2>/dev/null
	fi
	[ -n "$HELPER_PGID" ] && kill -- -"$HELPER_PGID" 2>/dev/null && wait "$HELPER_PGID" 2>/dev/null
	HELPER_PGID='' WATCHER_PID='' QEMU_PIDFILE=''
}

# boot_vm DIR: one QEMU run of DIR/initrd.cpio for the loaded group (and its
# host helper). Returns QEMU's exit status (124: killed by the timeout).
#
# Every L1 boots with tsc=reliable. TCG's TSC is one host-derived counter
# for all vCPUs (helper_rdtsc: cpu_get_ticks()), but QEMU cannot offer
# invtsc under TCG, so Linux would mark the TSC of a multi-CPU AMD guest
# unstable and fall back to the HPET: every clock read an emulated MMIO
# access, and L1's KVM re-offsetting each L2 vCPU's TSC whenever its
# thread is scheduled in (tsc_catchup). With that, L2 hung in early boot
# in 3 of 10 nested-kram-l2 runs (2026-12-01, this machine); with
# tsc=reliable 0 of 6, as on a real host with an invariant TSC.
#
# Every L1 (and every L2, lib/l2.sh) boots with mitigations=off. TCG
# executes nothing speculatively, so the guest's Spectre-class defences
# protect nothing there and only add emulated work: with the emulated
# EPYC, Debian's kernel sends every return through srso_return_thunk,
# every indirect call through a retpoline, and fills the return stack
# buffer on each context switch and VM exit. hvkit's code paths do not
# depend on them (a real host keeps its mitigations).
#
# Every L1 boots with kvm_amd.npt=0: L1's KVM runs its guests (L2) on
# shadow page tables instead of nested paging (busybox modprobe and the
# built-in kvm_amd of the debug kernel both take it from the command
# line). The nested deaths of this suite (L2 triple faults on an
# instruction fetch, L1 stack-guard hits, RCU stalls in L2; ~1 group in
# 3 make check runs) all happened with QEMU 7.2's TCG emulating NPT for
# L1; README, "The nested platform", has the runs with and without it.
# HVKIT_L1_NPT=1 boots L1 with nested paging, to compare.
boot_vm() {
	local dir=$1 qargs rc
	local L1_NPT_ARG="kvm_amd.npt=0 "
	[ "${HVKIT_L1_NPT:-0}" = 1 ] && L1_NPT_ARG=""
	: >"$dir/results.txt"
	: >"$dir/console.log"
	rm -f "$dir/qemu.pid" "$dir/stalled" "$dir/fault" "$dir/boothang"
	# For HOST_HELPER, HOST_HELPER_READY and QEMU_ARGS (evaluated below).
	export VMDIR=$dir
	# What cleanup in run.sh kills if the runner is stopped.
	echo "$dir" >"$LIVE/$(basename "$dir")"
	if [ -n "$HOST_HELPER" ]; then
		# Its own process group, so that stop_all reaches its children.
		setsid bash -c "exec $HOST_HELPER" >"$dir/helper.log" 2>&1 9>&- &
		HELPER_PGID=$!
		echo "$HELPER_PGID" >"$dir/helper.pgid"
		for _ in $(seq 50); do
			[ -z "$HOST_HELPER_READY" ] && break
			[ -e "$(eval echo "$HOST_HELPER_READY")" ] && break
			sleep 0.2
		done
	fi
	qargs=$(eval echo "${QEMU_ARGS//$'\n'/ }")
	log "group $GROUP on $KIND kernel: booting ($(du -h "$dir/initrd.cpio" | cut -f1) initramfs, timeout ${TIMEOUT}s)"
	QEMU_PIDFILE=$dir/qemu.pid
	vm_watch "$dir" 9>&- &
	WATCHER_PID=$!
	# no_timer_check: with interrupt remapping on (intel_iommu=on) 6.1's
	# check_timer() has no fallback when its busy-wait of 4e10/HZ TSC
	# cycles (64 ms here) sees 4 jiffies or fewer, and panics ("timer
	# doesn't work through Interrupt-remapped IO-APIC"). It did once,
	# 0.044 s into a kexec boot of live-update, before any module loaded,
	# while another test VM ran beside it on the 2 host CPUs (an emulated
	# vCPU starved). Every L1 gets it (kexec boots reuse the command line).
	# shellcheck disable=SC2086
	timeout --foreground -k 10 "$TIMEOUT" "$L0_QEMU" -pidfile "$dir/qemu.pid" \
		-M q35 -accel "${HVKIT_ACCEL:-$ACCEL}" -cpu "EPYC,+svm$([ "$L1_PMU" = yes ] && echo ,pmu=on)" \
		-smp "$SMP" -m "$MEM" \
		-nodefaults -display none -no-reboot \
		-kernel "$VMLINUZ" -initrd "$dir/initrd.cpio" \
		-append "console=ttyS0 panic=-1 panic_on_warn=1 oops=panic tsc=reliable mitigations=off no_timer_check $L1_NPT_ARG$CMDLINE$([ "$KIND" = debug ] && [ -n "$DEBUG_CMDLINE" ] && echo " $DEBUG_CMDLINE")" \
		-serial "file:$dir/console.log" -serial "file:$dir/results.txt" \
		-monitor "unix:$dir/monitor.sock,server=on,wait=off" \
		$qargs >"$dir/qemu.log" 2>&1 9>&-
	rc=$?
	QEMU_PIDFILE=''
	stop_all
	rm -f "$LIVE/$(basename "$dir")"
	# A QEMU the timeout killed before PID 1 reported: a boot hang too.
	if [ "$rc" = 124 ] && [ ! -s "$dir/results.txt" ] && [ ! -e "$dir/boothang" ]; then
		echo "killed after ${TIMEOUT} s with no report from PID 1" >"$dir/boothang"
	fi
	return $rc
}

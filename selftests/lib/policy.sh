# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# When may the hvkit runner boot a failed test VM once more? The whole
# answer is in this file, for L1 (selftests/run.sh) and for L2 (hvkit-l2,
# which sources it inside L1). POSIX sh: busybox runs it too.
#
# A retry hides a failure, so it is allowed only where hvkit is cleared:
#
#  1. Boot hang. The kernel stopped (an L2: or triple-faulted) before the
#     VM's PID 1 reported its first line, and the console shows no oops or
#     warning. PID 1 reports before it loads any module, so no hvkit code
#     ran in the VM. For an L2 also L1 must run no hvkit module at all
#     (kernel taint flag O): kvm_hybrid rewrites a bound L2's CPUID from
#     its first instruction, kram can back its RAM, pvtimer_agent fires
#     its timers.
#  2. Platform fault: one of lib/platform-fault-patterns among the VM's
#     OWN kernel lines ("[   12.345678] ..."; L2's console relayed into
#     L1's log is prefixed "# l2 console: " and can never match), or an
#     emulator that stopped using CPU. Retried only when all three hold:
#       - no hvkit code ran in the VM or in any VM it hosts: its image
#         holds no hvkit module, or its PID 1 had not reported yet; and
#         no L2 was started (every L2 image holds hvkit modules);
#       - the VM printed a stack trace after the fault (a stall that
#         prints nothing, a guard-page hit that panics at once: no);
#       - no frame of any trace names an hvkit module.
#
#  3. Fault before PID 1 (an L2): the first oops or warning of the L2's
#     console comes before its kernel ran /init, a stack trace follows it
#     and names no module at all (none is loaded before /init), and L1
#     runs no hvkit module. A VM is judged by its first fault: what fails
#     later in a kernel already broken before any hvkit code could run is
#     its consequence.
#
# Everything else fails. Every retry is listed in the summary ("N
# retried") with its reason, and a run that retried more than one group
# fails as a whole: a platform that faults that often vouches for nothing.

# A stack frame of a kernel trace: "func+0x1c/0x40".
FRAME_RE='[A-Za-z0-9_.]+\+0x[0-9a-f]+/0x[0-9a-f]+'

# l1_runs_hvkit: (in L1) an hvkit module is loaded here (taint O), which
# may act on an L2; says so.
l1_runs_hvkit() {
	[ $(($(cat /proc/sys/kernel/tainted) & 4096)) = 0 ] && return 1
	echo "# not retried: L1 runs hvkit modules (taint O), which may act on L2"
}

# kernel_lines FILE: the kernel's own lines of a console log.
kernel_lines() {
	tr -d '\r' <"$1" | grep -aE '^\[ *[0-9]+\.[0-9]+\] '
}

# platform_fault FILE PATTERNS: the first own kernel line matching PATTERNS.
platform_fault() {
	kernel_lines "$1" | grep -aEm1 -f "$2" | cut -c1-160
}

# has_trace FILE PATTERNS: a stack frame ("func+0x1c/0x40") follows the
# first platform fault among the kernel's own lines.
has_trace() {
	# The regex through the environment: awk -v would eat its backslashes.
	kernel_lines "$1" | FRAME_RE=$FRAME_RE awk -v pf="$2" '
		BEGIN { while ((getline p < pf) > 0) if (p != "") pat[p] = 1 }
		!seen { for (p in pat) if ($0 ~ p) { seen = 1; break } }
		seen && $0 ~ ENVIRON["FRAME_RE"] { found = 1; exit }
		END { exit !found }'
}

# hvkit_frames FILE MODULES: the frames naming one of MODULES (space
# separated), "func+0x../0x.. [module]"; "Modules linked in:" has no brackets.
hvkit_frames() {
	kernel_lines "$1" | grep -aE "$FRAME_RE \[($(echo "$2" | tr ' ' '|'))\]"
}

# retry_l1 DIR IMAGE_HAS_HVKIT MODULES PATTERNS: prints the reason and
# succeeds when the failed L1 run in DIR (console.log, results.txt and the
# watcher's verdict files: boothang, fault, stalled) may be booted again.
retry_l1() {
	_d=$1
	if [ ! -s "$_d/results.txt" ]; then
		if [ -e "$_d/boothang" ] && ! grep -aqEf "$BAD_PATTERNS" "$_d/console.log"; then
			echo "boot hung before PID 1 ran: no hvkit code had run"
			return 0
		fi
	fi
	[ -e "$_d/fault" ] || [ -e "$_d/stalled" ] || return 1
	if grep -aq '^HVKIT: l2 start' "$_d/results.txt"; then
		echo "# not retried: an L2 had been started (its image holds hvkit modules)"
		return 1
	fi
	if [ "$2" = yes ] && [ -s "$_d/results.txt" ]; then
		echo "# not retried: PID 1 had started with hvkit modules in the image"
		return 1
	fi
	if ! has_trace "$_d/console.log" "$4"; then
		echo "# not retried: no stack trace after the fault to clear hvkit"
		return 1
	fi
	if hvkit_frames "$_d/console.log" "$3" >/dev/null; then
		echo "# not retried: a trace names hvkit code"
		return 1
	fi
	echo "platform fault before any hvkit code ran, its trace names none"
}

# retry_l2 CONSOLE RESULTS: the L2 whose console and results port are
# given hung in early boot and may be booted once more (run in L1).
retry_l2() {
	grep -q '^HVKIT: ' "$2" 2>/dev/null && return 1
	grep -aqEf "$BAD_PATTERNS" "$1" && return 1
	l1_runs_hvkit && return 1
	echo "L2 boot hung or triple-faulted before its PID 1 ran, L1 runs no hvkit module"
}

# retry_l2_prefault CONSOLE: rule 3 for the L2 whose console is given (run
# in L1); prints the reason, or why not when the L2 faulted but may not
# be retried.
retry_l2_prefault() {
	_first=$(kernel_lines "$1" | grep -anEm1 -f "$BAD_PATTERNS" | cut -d: -f1)
	[ -n "$_first" ] || return 1
	_init=$(kernel_lines "$1" | grep -anm1 'Run /init as init process' | cut -d: -f1)
	if [ -n "$_init" ] && [ "$_init" -lt "$_first" ]; then
		return 1
	fi
	if ! kernel_lines "$1" | tail -n +"$_first" | grep -aqE "$FRAME_RE"; then
		echo "# not retried: no stack trace after its fault before /init"
		return 1
	fi
	if kernel_lines "$1" | grep -aqE "$FRAME_RE \\["; then
		echo "# not retried: a trace names a module"
		return 1
	fi
	l1_runs_hvkit && return 1
	# The fault's own words stay out of the reason: the host judges every
	# other line of L1's console by lib/bad-log-patterns.
	echo "L2 faulted before its /init ran (its kernel line $_first; a stack trace, no module frame), L1 runs no hvkit module"
}

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# In L2: the guest_idlepoll benchmark runs. The configurations to run come
# from the kernel command line (hvkit.ipbench=cfg,cfg,...; hvkit.ipround=N
# names the boot round in the marks):
#   hlt          no cpuidle driver: default idle (HLT)
#   ip_def       guest_idlepoll at its defaults (policy=haltpoll, 2 states)
#   ip_hp        guest_idlepoll policy=haltpoll (the default policy), tuned
#                for nested TCG (tcg_scale in idlepoll_lib)
#   ip_up        ip_hp with shrink_after=1: upstream haltpoll's own rule
#                (shrink after every long idle), against the default 4
#   ip_ad        guest_idlepoll policy=adaptive, tuned
#   ip_1s        guest_idlepoll nr_states=1, tuned
#   hp_def       the kernel's haltpoll driver at its defaults (boot:
#                cpuidle_haltpoll.force=1)
#   hp_tuned     the haltpoll driver with the haltpoll governor's
#                parameters scaled like tcg_scale; run only where that
#                governor exists (Debian's 6.1 does not build it)
#   idle_poll    idle=poll (boot)
# Each configuration runs every load IPB_REPS times (default 3, the loads
# interleaved), for medians that one collapsed window cannot move.
# Loads (IPB_LOADS): bT = back-to-back ping-pong at think T us, gT = the
# gapped load at think T us (bursts of 10 round trips, gaps of 1-10 ms
# drawn from seed 1: the same gaps in every row). Each run of pingpong
# marks its own loop for L1 (pingpong -m, see pingpong.c) and reads the
# polling counters around the loop itself; runs of -n 0 ("cal") measure
# the marks' waits, which L1 subtracts. One line per run:
# "IPB cfg load round.rep key=value...".
# shellcheck source=selftests/tests/idlepoll_lib.sh
. /hvkit/tests/idlepoll_lib
ROUNDS=${IPB_ROUNDS:-200}
REPS=${IPB_REPS:-3}
LOADS=${IPB_LOADS:-b0 g1 g20 g50}
WAIT_US=${IPB_WAIT_US:-1000000}
cfgs=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^hvkit.ipbench=//p' | tr ',' ' ')
round=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^hvkit.ipround=//p')
echo "TAP version 13"
[ -n "$cfgs" ] || { echo "not ok 1 no hvkit.ipbench= on the command line"; exit 1; }

# states: every CPU's cpuidle state names, "cpu0=POLL,IDLEPOLL; cpu1=...".
states() {
	for c in "$CPUSYS"/cpu[0-9]*; do
		printf '%s=%s; ' "${c##*/}" "$(cat "$c"/cpuidle/state*/name 2>/dev/null |
			tr '\n' ',' | sed 's/,$//')"
	done | sed 's/; $//'
}

# cfg_is DRIVER STATES: the cpuidle driver is DRIVER and every CPU has
# exactly the states STATES (comma-separated names, "" for none).
cfg_is() {
	[ "$(driver)" = "$1" ] || return 1
	for c in "$CPUSYS"/cpu[0-9]*; do
		[ "$(cat "$c"/cpuidle/state*/name 2>/dev/null | tr '\n' ',' | sed 's/,$//')" = "$2" ] ||
			return 1
	done
}

# haltpoll governor parameters (absent on Debian's 6.1): tcg_scale's
# scaling, 10x the defaults of the window and of its first growth step.
HPGOV=/sys/module/haltpoll/parameters
hp_scale() {
	echo 2000000 >$HPGOV/guest_halt_poll_ns &&
		echo 500000 >$HPGOV/guest_halt_poll_grow_start &&
		echo haltpoll >"$CPUSYS/cpuidle/current_governor"
}

# run CFG LOAD REP: one pingpong run between marks, one IPB line.
run() {
	case "$2" in
	cal) a="-n 0" ;;
	b*) a="-n $ROUNDS -t ${2#b}" ;;
	g*) a="-n $ROUNDS -t ${2#g} -B 10 -g 1000:10000 -s 1" ;;
	esac
	# shellcheck disable=SC2086 # $a: several arguments
	if pingpong $a -m "$1:$2:$round.$3" -w "$WAIT_US" >/tmp/pp; then
		echo "IPB $1 $2 $round.$3 $(tr '\n' ' ' </tmp/pp)"
	else
		n=$((n + 1))
		echo "not ok $n $1 $2: pingpong $a failed"
		rc=1
	fi
}

for cfg in $cfgs; do
	case "$cfg" in
	ip_def|ip_hp) modprobe guest_idlepoll policy=haltpoll ;;
	ip_up) modprobe guest_idlepoll policy=haltpoll shrink_after=1 ;;
	ip_ad) modprobe guest_idlepoll policy=adaptive ;;
	ip_1s) modprobe guest_idlepoll nr_states=1 ;;
	esac
	# The configuration must be the one named: driver, states, parameters.
	case "$cfg" in
	hlt) want="none" ws="" ;;
	idle_poll) want="none" ws="" ;;
	hp_*) want="haltpoll" ws="POLL,haltpoll idle" ;;
	ip_1s) want="guest_idlepoll" ws="IDLEPOLL" ;;
	ip_*) want="guest_idlepoll" ws="POLL,IDLEPOLL" ;;
	esac
	check "$cfg: driver '$(driver)', states '$(states)': want '$want', '$ws'" cfg_is "$want" "$ws"
	[ "$cfg" = idle_poll ] &&
		check "$cfg: the kernel uses polling idle threads" sh -c 'dmesg | grep -q "using polling idle threads"'
	case "$cfg" in
	ip_up) check "$cfg: shrink_after $(cat $P/shrink_after) = 1" [ "$(cat $P/shrink_after)" = 1 ] ;;
	esac
	case "$cfg" in
	ip_hp|ip_up|ip_ad|ip_1s) check "$cfg: tuned (tcg_scale)" tcg_scale
		check "$cfg: max_poll_ns $(cat $P/max_poll_ns) = 2000000" [ "$(cat $P/max_poll_ns)" = 2000000 ] ;;
	ip_def) check "$cfg: max_poll_ns $(cat $P/max_poll_ns) = 200000 (default)" [ "$(cat $P/max_poll_ns)" = 200000 ] ;;
	hp_tuned)
		if [ ! -d $HPGOV ]; then
			echo "# hp_tuned: no haltpoll governor in this kernel ($HPGOV absent): the haltpoll driver runs under '$(cat "$CPUSYS/cpuidle/current_governor_ro" 2>/dev/null)' and has no window to tune"
			continue
		fi
		check "$cfg: haltpoll governor scaled" hp_scale ;;
	esac
	echo "# $(date +%T) $cfg: governor $(cat "$CPUSYS/cpuidle/current_governor_ro" 2>/dev/null) $(cat $HPGOV/guest_halt_poll_ns 2>/dev/null)" >/dev/console
	r=1
	while [ $r -le "$REPS" ]; do
		for load in cal $LOADS; do
			run "$cfg" "$load" $r
		done
		r=$((r + 1))
	done
	case "$cfg" in
	ip_*)
		hvkitctl idlepoll status | sed "s/^/# $cfg: /"
		check "$cfg: modprobe -r guest_idlepoll" modprobe -r guest_idlepoll ;;
	esac
done
exit $rc

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guest_idlepoll benchmark (L1 side): boots L2 three times (default idle +
# guest_idlepoll variants; the haltpoll driver; idle=poll), joins L2's
# per-run figures with the halt exits L1's KVM counted for each run, and
# prints medians over the repetitions, side by side.
echo "TAP version 13"
all=/tmp/ipb.all
: >$all
rm -f /tmp/ipb.bad
# delta RUN STAT: STAT at mark RUN:e minus at RUN:s, NA if a mark is missing.
delta() {
	awk -v a="$1:s" -v b="$1:e" -v st="$2" '$2 == st && $1 == a { x = $3; hx = 1 }
		$2 == st && $1 == b { y = $3; hy = 1 }
		END { if (hx && hy) print y - x; else print "NA" }' /tmp/l2/marks
}
n=0 rc=0
for boot in "hvkit.ipbench=hlt,adaptive,defaults,haltpollrule,onestate" \
	"hvkit.ipbench=haltpolldrv cpuidle_haltpoll.force=1" \
	"hvkit.ipbench=idle_poll idle=poll"; do
	n=$((n + 1))
	if L2_APPEND="$boot" hvkit-l2 -t 900 >/tmp/ipb.out 2>&1; then
		echo "ok $n L2 boot: $boot"
	else
		grep -E '^(not ok|# hvkit-l2)' /tmp/ipb.out
		tr -d '\r' </tmp/l2/console.log | tail -n 40 | sed 's/^/# l2 console tail: /'
		echo "not ok $n L2 boot: $boot"
		rc=1
	fi
	grep '^# l2 console: # .*: cpuidle\|^# l2 console: # [a-z]*: [0-9 ]' /tmp/ipb.out | head -20
	tr -d '\r' </tmp/l2/console.log | grep '^IPB ' | while read -r _ cfg t r rtt poll rounds; do
		m="$cfg:$t:$r"
		he=$(delta "$m" halt_exits)
		ex=$(delta "$m" exits)
		echo "# raw: $cfg think $t rep $r: rtt_median_ns $rtt polled_ns $poll rounds $rounds halt_exits $he exits $ex"
		if [ "$he" = NA ] || [ "$ex" = NA ]; then
			echo "not ok - $m: L1 took no snapshot at one of its marks"
			echo 1 >/tmp/ipb.bad
			continue
		fi
		echo "$cfg $t $r $rtt $poll $rounds $he $ex" >>$all
	done
done
[ -e /tmp/ipb.bad ] && rc=1
# Medians per (cfg, think): rtt, polled ns per round trip, halt exits and
# exits per round trip (the exits include ~1 s of idle after each mark).
med() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }
echo "| think µs | configuration | RTT µs (median) | RTT vs idle=poll | L2 halt exits / RT | L2 exits / RT | polling µs / RT | polling vs idle=poll |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|"
for t in 0 1 20 50; do
	base_rtt=$(awk -v t=$t '$1 == "idle_poll" && $2 == t { print $4 }' $all | med)
	base_poll=$(awk -v t=$t '$1 == "idle_poll" && $2 == t { print $5 / $6 }' $all | med)
	for cfg in idle_poll hlt haltpolldrv defaults haltpollrule onestate adaptive; do
		rtt=$(awk -v t=$t -v c=$cfg '$1 == c && $2 == t { print $4 }' $all | med)
		[ "$rtt" = 0 ] && continue
		poll=$(awk -v t=$t -v c=$cfg '$1 == c && $2 == t { print $5 / $6 }' $all | med)
		he=$(awk -v t=$t -v c=$cfg '$1 == c && $2 == t { print $7 / $6 }' $all | med)
		ex=$(awk -v t=$t -v c=$cfg '$1 == c && $2 == t { print $8 / $6 }' $all | med)
		case $cfg in
		idle_poll) name="idle=poll (floor)" ;;
		hlt) name="default idle (HLT)" ;;
		haltpolldrv) name="haltpoll driver (force=1)" ;;
		defaults) name="guest_idlepoll, hardware defaults (unscaled)" ;;
		haltpollrule) name="**guest_idlepoll policy=haltpoll, the default (scaled)**" ;;
		onestate) name="guest_idlepoll nr_states=1 (scaled)" ;;
		adaptive) name="guest_idlepoll policy=adaptive (scaled)" ;;
		esac
		awk -v t=$t -v n="$name" -v r="$rtt" -v br="$base_rtt" -v h="$he" -v e="$ex" \
			-v p="$poll" -v bp="$base_poll" 'BEGIN {
			printf "| %s | %s | %.1f | %s | %.2f | %.2f | %.1f | %s |\n", t, n, r / 1000,
				(br > 0) ? sprintf("%.2fx", r / br) : "-", h, e, p / 1000,
				(bp > 0) ? sprintf("%.2fx", p / bp) : "-" }'
	done
done
exit $rc

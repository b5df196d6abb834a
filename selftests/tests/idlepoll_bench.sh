#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guest_idlepoll benchmark (L1 side). Three kinds of L2 boot, because two
# mechanisms cannot share a boot with the others: the haltpoll driver is
# built into Debian's 6.1 (CONFIG_HALTPOLL_CPUIDLE=y: registered at boot
# with cpuidle_haltpoll.force=1, never unregistered) and idle=poll is a
# boot option. Default idle and every guest_idlepoll variant share one
# boot (the module is loaded and unloaded between them). Each kind is
# booted IPB_BOOTS times (default once: under nested TCG an L2 boot takes
# about a minute, and a window of one load about 5 s), interleaved
# A B C, C B A, ... so that drift falls on every row alike; three runs
# of the group give three boots of each kind, in turn.
#
# What is measured (idlepoll_l2bench.sh, pingpong.c):
# - L1's KVM statistics of the L2 VM at marks pingpong itself writes right
#   before and after its measured loop; each window's own CPUID exits
#   (pingpong's sentinels) prove L1 took both snapshots inside the marks'
#   waits, or the window fails. The waits are in every window: runs with
#   no loop ("cal", the same marks and waits) measure them per
#   configuration, and their median is subtracted from each window.
# - Polling CPU over exactly the loop for every row: POLL-state time plus
#   guest_idlepoll's in-state polling, read by pingpong at the loop's
#   ends; for idle=poll all idle time over the loop (2 x wall - busy).
# - A goal line is not evaluated where idle=poll's round trip is slower
#   than HLT's: a poller that never halts cannot be, unless L1 kept its
#   vCPUs from running (both always-running vCPU threads on L1's two
#   CPUs, preempted there 200-400 times a window against 80-90 in its
#   fast ones): that window is no baseline.
# Figures are printed, never judged: a TAP line fails only when a boot,
# a configuration check or a window's snapshots failed.
echo "TAP version 13"
BOOTS=${IPB_BOOTS:-1}
all=/tmp/ipb.all
: >$all
n=0 rc=0
A="hvkit.ipbench=hlt,ip_def,ip_hp,ip_up,ip_ad"
B="hvkit.ipbench=hp_def,hp_tuned cpuidle_haltpoll.force=1"
C="hvkit.ipbench=idle_poll idle=poll"
order=
r=1
while [ $r -le "$BOOTS" ]; do
	if [ $((r % 2)) = 1 ]; then order="$order A$r B$r C$r"; else order="$order C$r B$r A$r"; fi
	r=$((r + 1))
done
for b in $order; do
	case $b in
	A*) boot=$A ;;
	B*) boot=$B ;;
	*) boot=$C ;;
	esac
	boot="$boot hvkit.ipround=${b#?}"
	n=$((n + 1))
	echo "# $(date +%T) boot $b: $boot; load: $(cut -d' ' -f1-3 /proc/loadavg)"
	: >/tmp/ipb.hook
	if L2_APPEND="$boot" L2_MARK_HOOK=/hvkit/tests/idlepoll_benchhook \
		hvkit-l2 -t 600 >/tmp/ipb.out 2>&1; then
		echo "ok $n L2 boot $b: $boot"
	else
		grep -E '^(not ok|# hvkit-l2)' /tmp/ipb.out
		tr -d '\r' </tmp/l2/console.log | tail -n 40 | sed 's/^/# l2 console tail: /'
		echo "not ok $n L2 boot $b: $boot"
		rc=1
	fi
	grep -E '^ok .* l2/' /tmp/ipb.out | sed 's/^/# /'
	grep '^# l2 console: # ' /tmp/ipb.out | grep -v 'IPB ' | head -40
	# Each window: its L1 deltas (mark NAME:e minus NAME:s) joined with
	# pingpong's line; "all" gets: cfg load round.rep rounds rtt_median
	# polled_ns idle_ns halt_exits exits cpuid_exits.
	tr -d '\r' </tmp/l2/console.log | grep '^IPB ' | awk -v all=$all '
		FILENAME == "/tmp/ipb.hook" {
			nm = $1; sub(/:[se]$/, "", nm); end = substr($1, length($1))
			hk[nm, end, $2] = $3 " " $4
			next
		}
		FILENAME == "/tmp/l2/marks" {
			nm = $1; sub(/:[se]$/, "", nm); end = substr($1, length($1))
			if (end == "s") s[nm, $2] = $3; else { e[nm, $2] = $3; st[nm] = st[nm] " " $2 }
			next
		}
		{
			nm = $2 ":" $3 ":" $4
			split("", kv)
			for (i = 5; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
			nw++
			if (!((nm, "halt_exits") in s) || !((nm, "halt_exits") in e) ||
			    !((nm, "exit_0x072") in e)) {
				printf "# window %s: no snapshot at one of its marks\n", nm; bad++; next
			}
			cpuid = e[nm, "exit_0x072"] - s[nm, "exit_0x072"]
			he = e[nm, "halt_exits"] - s[nm, "halt_exits"]; ex = e[nm, "exits"] - s[nm, "exits"]
			if (cpuid < 20 || cpuid >= 220) {
				printf "# window %s: %d CPUID exits, not 20..219: L1 snapshotted outside the waits\n", nm, cpuid
				bad++; next
			}
			# The window in full, for reading: exit reasons (SVM codes), and
			# guest_idlepoll counters when loaded.
			rs = ""
			n = split(st[nm], names, " ")
			for (i = 1; i <= n; i++) if (names[i] ~ /^exit_0x/ && e[nm, names[i]] - s[nm, names[i]] > 0)
				rs = rs " " substr(names[i], 6) ":" e[nm, names[i]] - s[nm, names[i]]
			ip = ""
			for (k in kv) if (k ~ /^ip_/) ip = ip " " k "=" kv[k]
			# Where L2'"'"'s vCPU threads ran in L1 at both marks, and how
			# often L1 preempted them in the window (idlepoll_benchhook).
			l1 = ""
			for (v = 0; v < 2; v++) {
				split(hk[nm, "s", "vcpu" v], a0, " "); split(hk[nm, "e", "vcpu" v], a1, " ")
				l1 = l1 sprintf(" vcpu%d cpu %s>%s preempted %s", v, a0[1], a1[1],
					(a0[2] != "" && a1[2] != "") ? a1[2] - a0[2] : "?")
			}
			printf "# raw: %s rounds %d rtt_ns %.0f p99_ns %.0f wall_ns %.0f polled_ns %.0f idle_ns %.0f halt_exits %d exits %d |%s |%s | l1:%s\n",
				nm, kv["rounds"], kv["rtt_median_ns"], kv["rtt_p99_ns"], kv["wall_ns"],
				kv["polled_ns"], kv["idle_ns"], he, ex, rs, ip, l1
			print $2, $3, $4, kv["rounds"], kv["rtt_median_ns"], kv["polled_ns"], kv["idle_ns"], he, ex, cpuid >>all
		}
		END { printf "%d %d\n", nw, bad >"/tmp/ipb.win" }' /tmp/ipb.hook /tmp/l2/marks -
	read -r nw bad </tmp/ipb.win
	if [ "$nw" -gt 0 ] && [ "$bad" = 0 ]; then
		echo "ok $((n = n + 1)) boot $b: all $nw windows snapshotted inside their marks' waits"
	else
		echo "not ok $((n = n + 1)) boot $b: $bad of $nw windows without a good snapshot pair"
		rc=1
	fi
done
echo "# $(date +%T) done; load: $(cut -d' ' -f1-3 /proc/loadavg)"
cells=$(awk '$2 != "cal"' $all | wc -l)
if [ "$cells" -gt 0 ]; then
	echo "ok $((n = n + 1)) $cells measured windows"
else
	echo "not ok $((n = n + 1)) no measured window"
	rc=1
fi

# Medians over the repetitions (IPB_BOOTS x the L2 side's REPS) per
# configuration and load, after subtracting the configuration's median
# "cal" window from the exits.
awk '
function med(a, k,   i, j, t) {
	for (i = 2; i <= k; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
# (+ 0: numbers, which busybox awk would otherwise compare as strings)
$2 == "cal" { c = ++nc[$1]; ch[$1, c] = $8 + 0; ce[$1, c] = $9 + 0; next }
{
	k = ++cnt[$1, $2]; seen[$2] = 1
	R[$1, $2, k] = $5 + 0; P[$1, $2, k] = ($1 == "idle_poll" ? $7 : $6) / $4
	H[$1, $2, k] = $8; E[$1, $2, k] = $9; N[$1, $2, k] = $4
}
END {
	ncfg = split("idle_poll hlt hp_def ip_def hp_tuned ip_hp ip_up ip_ad ip_1s", cfgs, " ")
	nl = split("b0 b1 b20 b50 g1 g20 g50", loads, " ")
	name["idle_poll"] = "idle=poll (no parameters)"
	name["hlt"] = "default idle (HLT, no parameters)"
	name["hp_def"] = "haltpoll driver (force=1), defaults"
	name["ip_def"] = "**guest_idlepoll, defaults** (policy=haltpoll, 200 µs cap)"
	name["hp_tuned"] = "haltpoll driver, governor scaled for TCG"
	name["ip_hp"] = "**guest_idlepoll policy=haltpoll (default policy), tuned for TCG**"
	name["ip_up"] = "guest_idlepoll policy=haltpoll shrink_after=1 (upstream rule), tuned for TCG"
	name["ip_ad"] = "guest_idlepoll policy=adaptive, tuned for TCG"
	name["ip_1s"] = "guest_idlepoll nr_states=1, tuned for TCG"
	for (i = 1; i <= ncfg; i++) {
		c = cfgs[i]
		if (!nc[c]) continue
		for (j = 1; j <= nc[c]; j++) { x[j] = ch[c, j]; y[j] = ce[c, j] }
		calh[c] = med(x, nc[c]); cale[c] = med(y, nc[c])
		printf "# calibration %s: the marks'"'"' waits alone (median of %d): %d halt exits, %d exits; subtracted\n",
			c, nc[c], calh[c], cale[c]
	}
	for (l = 1; l <= nl; l++) for (i = 1; i <= ncfg; i++) {
		c = cfgs[i]; L = loads[l]; k = cnt[c, L]
		if (!k) continue
		for (j = 1; j <= k; j++) {
			a[j] = R[c, L, j]; b[j] = P[c, L, j]
			h[j] = (H[c, L, j] - calh[c]) / N[c, L, j]; e[j] = (E[c, L, j] - cale[c]) / N[c, L, j]
		}
		rtt[c, L] = med(a, k); pol[c, L] = med(b, k); hx[c, L] = med(h, k); ex[c, L] = med(e, k)
		reps[c, L] = k
	}
	print "| load | configuration | reps | RTT µs (median) | RTT vs idle=poll | polling µs / RT | polling vs idle=poll | L2 halt exits / RT | halt exits vs haltpoll driver (defaults) | L2 exits / RT |"
	print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for (l = 1; l <= nl; l++) {
		L = loads[l]
		if (!seen[L]) continue
		ld = (substr(L, 1, 1) == "b" ? "back-to-back" : "gapped") ", think " substr(L, 2) " µs"
		for (i = 1; i <= ncfg; i++) {
			c = cfgs[i]
			if (!reps[c, L]) continue
			br = rtt["idle_poll", L]; bp = pol["idle_poll", L]; bh = hx["hp_def", L]
			printf "| %s | %s | %d | %.1f | %s | %.1f | %s | %.2f | %s | %.2f |\n", ld, name[c], reps[c, L],
				rtt[c, L] / 1000, (br > 0) ? sprintf("%.2fx", rtt[c, L] / br) : "-",
				pol[c, L] / 1000, (bp > 0) ? sprintf("%.2fx", pol[c, L] / bp) : "-",
				hx[c, L], (bh > 0) ? sprintf("%.2fx", hx[c, L] / bh) : "-", ex[c, L]
		}
	}
	print "| goal (issue 17, gapped load) | row | RTT ≤ 1.10x idle=poll | polling ≤ 0.25x idle=poll | halt exits < haltpoll driver (defaults) | all three |"
	print "|---|---|---|---|---|---|"
	for (l = 1; l <= nl; l++) {
		L = loads[l]
		if (!seen[L] || substr(L, 1, 1) != "g") continue
		for (i = 1; i <= 2; i++) {
			c = i == 1 ? "ip_def" : "ip_hp"
			if (!reps[c, L] || !reps["idle_poll", L] || !reps["hp_def", L]) {
				printf "| think %s µs | %s | missing rows | | | not evaluated |\n", substr(L, 2), name[c]
				continue
			}
			# idle=poll never halts: a round trip slower than HLT
			# means L1 kept the vCPUs from running (its two CPUs
			# carry both always-running vCPU threads), not a baseline.
			if (reps["hlt", L] && rtt["idle_poll", L] > rtt["hlt", L]) {
				printf "| think %s µs | %s | idle=poll %.1f µs > HLT %.1f µs: no baseline | | | not evaluated |\n",
					substr(L, 2), name[c], rtt["idle_poll", L] / 1000, rtt["hlt", L] / 1000
				continue
			}
			g1 = rtt[c, L] <= 1.10 * rtt["idle_poll", L]
			g2 = pol[c, L] <= 0.25 * pol["idle_poll", L]
			g3 = hx[c, L] < hx["hp_def", L]
			printf "| think %s µs | %s | %.2fx: %s | %.2fx: %s | %.2f vs %.2f: %s | %s |\n", substr(L, 2), name[c],
				rtt[c, L] / rtt["idle_poll", L], g1 ? "met" : "not met",
				(pol["idle_poll", L] > 0) ? pol[c, L] / pol["idle_poll", L] : 0, g2 ? "met" : "not met",
				hx[c, L], hx["hp_def", L], g3 ? "met" : "not met",
				g1 && g2 && g3 ? "**met**" : "not met"
		}
	}
}' $all
exit $rc

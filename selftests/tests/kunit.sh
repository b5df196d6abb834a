#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Load every hvkit KUnit module (*_kunit.ko, built only against a kernel
# with CONFIG_KUNIT), parse the KTAP each prints and re-emit one TAP line
# per test case. A suite that starts but never reports (a crash mid-suite)
# or a module that fails to load is a failure. Needs the debug kernel.
echo "TAP version 13"
dir=/lib/modules/$(uname -r)/updates
# KUnit (built in or a module) has parameters, so /sys/module/kunit exists.
if [ ! -d /sys/module/kunit ] && ! modprobe -q kunit 2>/dev/null; then
	# Debian's kernel: the suites run in the debug suite.
	echo "ok 1 KUnit suites # SKIP this kernel has no KUnit (CONFIG_KUNIT), the debug kernel has"
	exit 0
fi
mods=$(find "$dir" -name '*_kunit.ko' | sort)
[ -n "$mods" ] || { echo "not ok 1 no *_kunit.ko in $dir"; exit 1; }
n=0 rc=0
dmesg -c >/dev/null
for ko in $mods; do
	m=$(basename "$ko" .ko)
	if ! modprobe "$m"; then
		n=$((n + 1)); echo "not ok $n modprobe $m"; rc=1
		continue
	fi
	dmesg -c | sed 's/^\[[^]]*\] //' >/tmp/ktap
	sed 's/^/# /' /tmp/ktap
	awk -v n="$n" -v m="$m" '
	# Suite start, case results (one indent), suite result (no indent).
	/^    # Subtest: / { s = $3; open[s] = 1; order[++ns] = s; next }
	/^    (not )?ok [0-9]+ / && s != "" {
		line = substr($0, 5); st = (line ~ /^not ok/) ? "not ok" : "ok"
		sub(/^(not )?ok [0-9]+ (- )?/, "", line)
		skip = index(line, "# SKIP")
		name = skip ? substr(line, 1, skip - 1) : line
		gsub(/ +$/, "", name)
		printf "%s %d %s.%s%s\n", st, ++n, s, name, skip ? " " substr(line, skip) : ""
		if (st == "not ok") bad = 1
		next
	}
	# A whole suite may end "ok N name # SKIP" (all its cases skipped).
	/^(not )?ok [0-9]+ / { for (k in open) if ($0 ~ (" " k "( # SKIP.*)?$")) done[k] = 1 }
	END {
		if (!ns) { printf "not ok %d %s: no KUnit suite ran\n", ++n, m; bad = 1 }
		for (i = 1; i <= ns; i++) if (!done[order[i]]) {
			printf "not ok %d %s: suite did not finish\n", ++n, order[i]; bad = 1
		}
		printf "# n=%d\n", n
		exit bad
	}' /tmp/ktap >/tmp/ktap.tap || rc=1
	grep -v '^# n=' /tmp/ktap.tap
	n=$(sed -n 's/^# n=//p' /tmp/ktap.tap)
	# rmmod, not modprobe -r: the modules it depends on stay loaded.
	rmmod "$m" || { n=$((n + 1)); echo "not ok $n rmmod $m"; rc=1; }
done
exit $rc

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# "hvkitctl status" lists every loaded hvkit module with the version sysfs
# reports and, for modules with a device, the device; absent ones as absent.
echo "TAP version 13"
out=$(hvkitctl status) || { echo "not ok 1 hvkitctl status exit $?"; exit 1; }
echo "$out" | sed 's/^/# /'
n=0 rc=0
for m in kram kvm_hybrid guest_pvtimer pvtimer_agent guest_idlepoll vfio_preserve; do
	n=$((n + 1))
	line=$(echo "$out" | awk -v m="$m" '$1 == m')
	if [ -d "/sys/module/$m" ]; then
		want="$m loaded $(cat "/sys/module/$m/version")"
		dev=-
		[ -c "/dev/$m" ] && dev=/dev/$m
		got=$(echo "$line" | awk '{ print $1, $2, $3 }')
		gotdev=$(echo "$line" | awk '{ print $4 }')
	else
		want="$m absent -"
		dev=-
		got=$(echo "$line" | awk '{ print $1, $2, $3 }')
		gotdev=$(echo "$line" | awk '{ print $4 }')
	fi
	if [ "$got" = "$want" ] && [ "$gotdev" = "$dev" ]; then
		echo "ok $n status $m"
	else
		echo "not ok $n status $m: got '$got $gotdev', want '$want $dev'"
		rc=1
	fi
done
n=$((n + 1))
if hvkitctl no-such-command >/dev/null 2>&1; then
	echo "not ok $n unknown command accepted"; rc=1
else
	echo "ok $n unknown command refused"
fi
exit $rc

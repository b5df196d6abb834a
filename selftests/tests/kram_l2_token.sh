#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs in L2 (group nested-kram-l2): puts a random token into L2's memory (a
# tmpfs file) and prints it, so L1 can find it in the kram area that backs
# L2's RAM. The printed form differs from the stored one on purpose.
echo "TAP version 13"
token=$(cat /proc/sys/kernel/random/uuid)
i=0
while [ $i -lt 64 ]; do
	echo "KRAMDATA:$token"
	i=$((i + 1))
done >/run/kram-token
echo "# kram-l2-token $token"
# L1 looks for the token in the kram area behind L2's RAM; here, that it
# really is in L2's memory (tmpfs) as written.
if [ "$(grep -c "^KRAMDATA:$token\$" /run/kram-token)" = 64 ]; then
	echo "ok 1 token stored in L2 memory (64 copies in /run/kram-token)"
else
	echo "not ok 1 token stored in L2 memory"
	exit 1
fi

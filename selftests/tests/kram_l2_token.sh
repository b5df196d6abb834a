#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs in L2 (group nested-kram): puts a random token into L2's memory (a
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
echo "ok 1 token stored in L2 memory"

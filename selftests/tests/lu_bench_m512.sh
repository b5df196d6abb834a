#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# bench-liveupdate's round "mainline, 512 MiB" ("kexec:lu_bench_m512"): lu_bench.
exec /hvkit/tests/lu_bench mainline 512 "$1"

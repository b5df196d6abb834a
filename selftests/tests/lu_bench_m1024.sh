#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# bench-liveupdate's round "mainline, 1024 MiB" ("kexec:lu_bench_m1024"): lu_bench.
exec /hvkit/tests/lu_bench mainline 1024 "$1"

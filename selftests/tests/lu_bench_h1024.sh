#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# bench-liveupdate's round "hvkit, 1024 MiB" ("kexec:lu_bench_h1024"): lu_bench.
exec /hvkit/tests/lu_bench hvkit 1024 "$1"

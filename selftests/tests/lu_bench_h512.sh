#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# bench-liveupdate's round "hvkit, 512 MiB" ("kexec:lu_bench_h512"): lu_bench.
exec /hvkit/tests/lu_bench hvkit 512 "$1"

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Shared helpers of the kram shell tests (sourced, not run). TAP counter,
# preconditions, and fill/check of an area and of tagged pool pages.
KRAM_SYS=/sys/class/misc/kram
t=0
# The sourcing test exits with $rc.
export rc=0
ok() { t=$((t + 1)); echo "ok $t $*"; }
nok() { t=$((t + 1)); echo "not ok $t $*"; rc=1; }
check() { # check "desc" command...: ok/not ok by the command's status
	_desc=$1
	shift
	if "$@"; then ok "$_desc"; else nok "$_desc"; fi
}

# kram_need_region: the group gave kram a region; fail (exit 1) unless it
# is attached.
kram_need_region() {
	[ -c /dev/kram ] || { echo "not ok 1 kram's region: no /dev/kram (kram not loaded)"; exit 1; }
	st=$(cat $KRAM_SYS/state)
	[ "$st" = attached ] || {
		echo "not ok 1 kram's region: kram is $st: $(cat $KRAM_SYS/last_attach)"
		exit 1
	}
}

# fill_area NAME PAGES DIR: random contents into the area, a copy in DIR.
fill_area() {
	dd if=/dev/urandom of="$3/area.$1" bs=4096 count="$2" 2>/dev/null &&
		dd if="$3/area.$1" of="/dev/kram_areas/$1" bs=4096 conv=notrunc 2>/dev/null
}

# same_area NAME PAGES DIR: the area still holds DIR's copy.
same_area() {
	dd if="/dev/kram_areas/$1" of="$3/now.$1" bs=4096 count="$2" 2>/dev/null &&
		cmp "$3/area.$1" "$3/now.$1"
}

# fill_pool TAG COUNT DIR: allocate COUNT pages with TAG, random contents;
# DIR/pool.list lists them, DIR/pool.<idx> holds each page's copy.
fill_pool() {
	hvkitctl kram alloc --tag "$1" --count "$2" >"$3/pool.list" || return 1
	[ "$(wc -l <"$3/pool.list")" = "$2" ] || return 1
	while read -r p; do
		dd if=/dev/urandom of="$3/pool.$p" bs=4096 count=1 2>/dev/null &&
			dd if="$3/pool.$p" of=/dev/kram bs=4096 seek="$p" conv=notrunc 2>/dev/null ||
			return 1
	done <"$3/pool.list"
}

# same_pool TAG DIR: the tag owns exactly the listed pages, bytes intact.
same_pool() {
	hvkitctl kram walk --tag "$1" >"$2/pool.walk" || return 1
	sort -n "$2/pool.list" >"$2/a"
	sort -n "$2/pool.walk" >"$2/b"
	cmp -s "$2/a" "$2/b" || { echo "# tag $1 owns: $(tr '\n' ' ' <"$2/b")"; return 1; }
	while read -r p; do
		dd if=/dev/kram of="$2/now" bs=4096 skip="$p" count=1 2>/dev/null &&
			cmp -s "$2/pool.$p" "$2/now" || { echo "# pool page $p changed"; return 1; }
	done <"$2/pool.list"
}

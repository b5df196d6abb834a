# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Shared settings for the hvkit VM test scripts. Sourced, never run.
#
# Everything downloaded or built outside the checkout lives in $HVKIT_CACHE
# (default ~/.cache/hvkit): the Debian kernel package, the debug kernel, the
# kselftest headers. Nothing is installed into the running system's kernel.

HVKIT_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HVKIT_CACHE=${HVKIT_CACHE:-${HOME:-/root}/.cache/hvkit}
HVKIT_OUT=${HVKIT_OUT:-$HVKIT_TOP/selftests/out}
# The Debian kernel ABI the stock suite boots: the one linux-headers-amd64
# points to. Override with HVKIT_KVER=6.1.0-NN-amd64.
: "${HVKIT_KVER:=}"

log() { printf '[hvkit %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# children_cpu_s VAR: VAR = the CPU seconds (user + system) of every
# child this shell has waited for. bash's times must run in this shell:
# in $(...) or a pipe it would count a fresh fork's children, none.
children_cpu_s() {
	local f LC_ALL=C
	f=$(mktemp)
	times >"$f"
	printf -v "$1" '%s' "$(awk 'NR == 2 {
		t = 0
		for (i = 1; i <= 2; i++) {
			split($i, a, /[ms]/); t += a[1] * 60 + a[2]
		}
		printf "%d", t + 0.5
	}' "$f")"
	rm -f "$f"
}

# stock_kver: the Debian kernel release (e.g. 6.1.0-56-amd64).
stock_kver() {
	if [ -z "$HVKIT_KVER" ]; then
		HVKIT_KVER=$(apt-cache depends linux-headers-amd64 2>/dev/null |
			sed -n 's/.*Depends: linux-headers-\(6\.1\.[0-9-]*-amd64\)$/\1/p' | head -n1)
		[ -n "$HVKIT_KVER" ] || die "cannot tell the Debian kernel version (apt-get update?)"
	fi
	echo "$HVKIT_KVER"
}

# cache_lock NAME: hold $HVKIT_CACHE/.lock-NAME until the calling script
# exits, so that two runs never fill the same cache entry at once.
cache_lock() {
	mkdir -p "$HVKIT_CACHE"
	exec 8>"$HVKIT_CACHE/.lock-$1"
	flock 8
}

# cache_prune NAME KEEP: remove every $HVKIT_CACHE/NAME-* entry but KEEP
# (the one just built or found): older versions of one cache never pile up.
cache_prune() {
	local old
	for old in "$HVKIT_CACHE/$1"-*; do
		[ "$old" = "$2" ] || [ ! -d "$old" ] || rm -rf "$old"
	done
}

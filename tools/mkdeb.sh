#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the Debian packages hvkit-dkms and hvkit-tools from this checkout
# with Debian's own tooling (dpkg-buildpackage, dh with dh-dkms), check
# them with lintian and copy the .debs to OUTDIR ("make deb": the top).
#
#   tools/mkdeb.sh [--version V] [--no-lintian] OUTDIR
#
# The package is built from a staged copy of the checkout's files (git's
# list when it is a git checkout: tracked and untracked, not ignored), so
# build outputs in the tree never reach a package. --version V builds the
# same sources as version V (dkms.conf and a changelog entry rewritten in
# the staged copy only): the test suite's "previous version" for upgrades.
set -euo pipefail

usage() {
	sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

ver_override='' lint=yes out=''
while [ $# -gt 0 ]; do
	case "$1" in
	--version) [ $# -ge 2 ] || usage; ver_override=$2; shift 2 ;;
	--no-lintian) lint=no; shift ;;
	-h|--help) usage ;;
	-*) echo "mkdeb: unknown option $1" >&2; usage ;;
	*) [ -z "$out" ] || usage; out=$1; shift ;;
	esac
done
[ -n "$out" ] || usage
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "$out" && cd "$out" && pwd)
for t in dpkg-buildpackage dh dh_dkms; do
	command -v "$t" >/dev/null ||
		{ echo "mkdeb: no $t (apt-get install debhelper dh-dkms dpkg-dev)" >&2; exit 1; }
done
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$top/dkms.conf")
[ -n "$ver" ] || { echo "mkdeb: no PACKAGE_VERSION in $top/dkms.conf" >&2; exit 1; }
[ -n "$ver_override" ] && ver=$ver_override

stage=$(mktemp -d /tmp/hvkit-deb.XXXXXX)
trap 'rm -rf "$stage"' EXIT
src=$stage/hvkit-$ver
mkdir -p "$src"
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			# A tracked file deleted in the work tree is not staged.
			[ -e "$f" ] && printf '%s\0' "$f"
		done | grep -zv -e '^selftests/out/' -e '\.deb$' |
		tar --null -T - -cf -) | tar -xf - -C "$src"
else
	tar -C "$top" --exclude=./selftests/out --exclude='*.deb' --exclude='*.o' \
		--exclude='*.ko' --exclude='*.mod' --exclude='*.mod.c' --exclude='.*.cmd' \
		--exclude=./compat/generated -cf - . | tar -xf - -C "$src"
fi
if [ -n "$ver_override" ]; then
	sed -i "s/^PACKAGE_VERSION=\".*\"$/PACKAGE_VERSION=\"$ver\"/" "$src/dkms.conf"
	maint=$(sed -n 's/^ -- \(.*>\)  .*/\1/p' "$src/debian/changelog" | head -n1)
	{
		printf 'hvkit (%s) unstable; urgency=medium\n\n' "$ver"
		printf '  * The same sources, built as version %s (tools/mkdeb.sh --version).\n\n' "$ver"
		printf ' -- %s  %s\n\n' "$maint" "$(date -R)"
		cat "$top/debian/changelog"
	} >"$src/debian/changelog"
fi
echo "mkdeb: building hvkit $ver in $src"
(cd "$src" && dpkg-buildpackage -b -us -uc) >"$stage/build.log" 2>&1 || {
	cat "$stage/build.log" >&2
	echo "mkdeb: dpkg-buildpackage failed" >&2
	exit 1
}
changes=$stage/hvkit_${ver}_amd64.changes
if [ "$lint" = yes ]; then
	if ! command -v lintian >/dev/null; then
		echo "mkdeb: no lintian (apt-get install lintian)" >&2
		exit 1
	fi
	# Every tag lintian can emit at warning level or above fails the
	# build; informational tags are printed (README: "Debian packages").
	lintian --fail-on error,warning --display-info --no-tag-display-limit "$changes" || {
		echo "mkdeb: lintian failed" >&2
		exit 1
	}
fi
for p in hvkit-dkms_${ver}_all.deb hvkit-tools_${ver}_amd64.deb; do
	cp "$stage/$p" "$out/"
	echo "mkdeb: $out/$p"
done
